// Package deploy deploys the release stack on one host (prod:deploy,
// prod:rollback, prod:status): every service of the compose files on an
// image the project builds, each by its role (internal/roles), all or
// nothing, under the release stack's lock, with a history that tells an
// interrupted deploy and a timeline of each deploy's steps. The decisions
// (the plan, a new container's verdict, what runs, what a roll pins,
// creates, drains and removes, the rollback's target) are pure functions
// of what docker and compose answer; the run plans each command here and
// runs it through a session.
package deploy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// CheckVersion is stack.CheckVersion: the one rule for VERSION, which
// every target and version:* apply.
func CheckVersion(v string) error { return stack.CheckVersion(v) }

// Bump returns v with part (major, minor or patch) raised and the parts
// after it zeroed; a pre-release is dropped (1.3.0-rc.1 bumped as patch is
// 1.3.0's next, 1.3.1).
func Bump(v, part string) (string, error) {
	if err := CheckVersion(v); err != nil {
		return "", err
	}
	core, _, _ := strings.Cut(v, "-")
	var n [3]int
	for i, s := range strings.Split(core, ".") {
		n[i], _ = strconv.Atoi(s)
	}
	switch part {
	case "major":
		n = [3]int{n[0] + 1, 0, 0}
	case "minor":
		n = [3]int{n[0], n[1] + 1, 0}
	case "patch":
		n = [3]int{n[0], n[1], n[2] + 1}
	default:
		return "", fmt.Errorf("%q is not a part of a version: bump major, minor or patch", clip(part))
	}
	return fmt.Sprintf("%d.%d.%d", n[0], n[1], n[2]), nil
}

// clip bounds a value quoted in a message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
