// Command worker logs one line and exits.
package main

import (
	"log"

	"example.com/hello/internal/greeting"
)

func main() {
	log.Print(greeting.For("worker"))
}
