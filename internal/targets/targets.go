// Package targets holds the entry points behind the mage targets: each opens
// what it acts on in the session the magefile gives it (an environment's
// stack, the swarm, the release history) and hands it to the domain that
// plans and runs the work (images, deploy, swarm, certbot, browsertest).
// Tests call them the same way over other project roots.
package targets

import (
	"strings"
)

func splitLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
