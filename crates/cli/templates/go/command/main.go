// A WASI command: `skiff run` calls main once and passes on its exit code.
package main

import "fmt"

func main() {
	fmt.Println("Hello from Go!")
}
