// Package testenv holds the one rule for tests that need something from the
// machine (a Docker engine, nginx, certbot, Pebble): without it they skip
// with the reason, unless DTX_E2E=required, as .ci/run sets it after
// .ci/engine.sh up, where a missing piece fails the test instead.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Required reports whether DTX_E2E=required.
func Required() bool { return os.Getenv("DTX_E2E") == "required" }

// Missing skips t with reason, or fails it when the suite is required.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatal(reason)
	} else {
		t.Skip(reason)
	}
}

// NeedCommand calls Missing unless bin is on PATH; hint says how to get it.
func NeedCommand(t testing.TB, bin, hint string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		Missing(t, fmt.Sprintf("%s is not on PATH: %s", bin, hint))
	}
}
