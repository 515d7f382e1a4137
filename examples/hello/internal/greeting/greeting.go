// Package greeting is shared by both commands of the example.
package greeting

import "fmt"

// For returns the greeting a command logs when it starts.
func For(who string) string {
	return fmt.Sprintf("hello from %s", who)
}
