//go:build mage

package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// init refuses an invocation with stray or missing words before mage runs
// any target: mage's generated main runs the targets in order and finds an
// unknown word only when it reaches it, after the targets before it ran.
// The compiled binary's arguments are the targets and their arguments (mage
// passes -v, -l, -h and -t in the environment).
func init() {
	words := os.Args[1:]
	if help := len(words) == 2 && words[0] == "-h"; help || os.Getenv("MAGEFILE_HELP") != "" {
		// -h TARGET: the help is the doc comment, written once; what is in
		// force in this shell is said before it.
		if help {
			if line := targets.InForce(words[1], os.Environ()); line != "" {
				fmt.Println(line)
				fmt.Println()
			}
		}
		return
	}
	if os.Getenv("MAGEFILE_LIST") != "" {
		return
	}
	if len(words) > 0 && strings.HasPrefix(words[0], "-") {
		return // flags given to the compiled binary directly: mage parses them
	}
	if err := targets.CheckInvocation(words); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(2)
	}
}
