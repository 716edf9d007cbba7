//go:build mage

package main

// The launcher's package, for its initialisation: it lets ./dtx run the
// tool directly, checking first that the tool is the one of the sources as
// they are, or handing over to the launcher (see its init).
import _ "github.com/kettleofketchup/dtx_website/internal/launcher"
