// Command dtx is the launcher behind ./dtx, the project's way in: see
// internal/launcher. It is built on its own (./dtx builds it with go build
// when the cache has none), from this folder and internal/launcher alone.
package main

import (
	"embed"

	"github.com/kettleofketchup/dtx_website/internal/launcher"
)

// source is this folder's source, part of the launcher's own (see
// internal/launcher's self).
//
//go:embed main.go
var source embed.FS

func main() { launcher.Main(source) }
