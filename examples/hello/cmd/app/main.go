// Command app serves the files of its kodata directory over HTTP.
package main

import (
	"log"
	"net/http"
	"os"

	"example.com/hello/internal/greeting"
)

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	dataPath := os.Getenv("KO_DATA_PATH")
	log.Printf("%s: serving %s on %s", greeting.For("app"), dataPath, addr)
	http.Handle("/", http.FileServer(http.Dir(dataPath)))
	log.Fatal(http.ListenAndServe(addr, nil))
}
