// Package testenv holds the one rule for tests that need something from the
// machine (a Docker engine, nginx, certbot, Pebble): without it they skip
// with the reason, unless DTX_E2E=required, as .ci/run sets it after
// .ci/engine.sh up, where a missing piece fails the test instead.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// Required reports whether DTX_E2E=required.
func Required() bool { return os.Getenv("DTX_E2E") == "required" }

var (
	mu      sync.Mutex
	skipped = map[string]bool{} // reasons tests were skipped for
)

// Missing skips t with reason, or fails it when the suite is required.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatal(reason)
		return
	}
	mu.Lock()
	skipped[reason] = true
	mu.Unlock()
	t.Skip(reason)
}

// Main runs the tests of a package that needs the machine; use it as
// `func TestMain(m *testing.M) { testenv.Main(m, "the end-to-end suites") }`.
// When tests were skipped for something missing, it says so where the
// user running `go test ./...` sees it: go test shows nothing of a passing
// package's output but its "ok" line (without -v), so the note goes to go
// test's own standard error, the test binary's parent's.
func Main(m *testing.M, what string) {
	code := m.Run()
	mu.Lock()
	n := len(skipped)
	var reason string
	for r := range skipped {
		reason = r
	}
	mu.Unlock()
	if n > 0 && !testing.Verbose() {
		note(fmt.Sprintf("/proc/%d/fd/2", os.Getppid()), fmt.Sprintf("note: %s were skipped (%s); bash .ci/run brings what they need and runs them, or run them with DTX_E2E=required to fail instead\n", what, reason))
	}
	os.Exit(code)
}

// note writes s to the standard error of go test, the parent, when it is a
// terminal or a pipe (never a regular file: a write there could land over
// its own). Wherever it cannot, the note is left out; -v shows the skips.
func note(path, s string) {
	info, err := os.Stat(path)
	if err != nil || info.Mode().IsRegular() {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(s)
}

// NeedCommand calls Missing unless bin is on PATH; hint says how to get it.
func NeedCommand(t testing.TB, bin, hint string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		Missing(t, fmt.Sprintf("%s is not on PATH: %s", bin, hint))
	}
}
