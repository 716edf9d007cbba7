// Package testenv holds the one rule for tests that need something from the
// machine (a Docker engine, nginx, certbot, Pebble): without it they skip
// with the reason, unless DTX_E2E=required, as .ci/run sets it after
// .ci/engine.sh up, where a missing piece fails the test instead.
//
// It also makes the skips impossible to miss: `go test ./...` shows only
// an "ok" line for a package that passed, skipped tests or not, and a
// cached rerun shows "ok (cached)". So a package whose tests skipped for a
// missing piece is never cached (the piece may be there next time), and
// its note ("… were skipped (reason); bash .ci/run …") is printed on the
// last lines of go test's output by the package that runs last, testsummary
// (see Summary and gotest.go).
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
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
	// Next time the machine may have it: go test must run the package
	// again. (Not for a stand-in testing.TB, as this package's own tests
	// use: they record a skip, nothing skips.)
	switch t.(type) {
	case *testing.T, *testing.B, *testing.F:
		neverCache()
	}
	t.Skip(reason)
}

// NeedCommand calls Missing unless bin is on PATH; hint says how to get it.
func NeedCommand(t testing.TB, bin, hint string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		Missing(t, fmt.Sprintf("%s is not on PATH: %s", bin, hint))
	}
}

// Main runs the tests of a package that needs the machine; use it as
// `func TestMain(m *testing.M) { testenv.Main(m, "the end-to-end suites") }`.
// When tests were skipped for something missing (and -v, which shows the
// skips, is off), it leaves the note for testsummary to print at the end
// of `go test ./...`, or prints it itself when go test does not run
// testsummary; either way go test will not cache this run.
func Main(m *testing.M, what string) {
	code := m.Run()
	mu.Lock()
	reasons := make([]string, 0, len(skipped))
	for r := range skipped {
		reasons = append(reasons, r)
	}
	mu.Unlock()
	if len(reasons) > 0 && !testing.Verbose() {
		sort.Strings(reasons)
		leaveNote(Note(what, reasons[0]))
	}
	os.Exit(code)
}

// Note is the line that says what was skipped, why, and how to run it.
func Note(what, reason string) string {
	return fmt.Sprintf("note: %s were skipped (%s); bash .ci/run brings what they need and runs them, or run them with DTX_E2E=required to fail instead\n", what, reason)
}

// Summary runs the tests of testsummary, the package that sorts last and so
// runs and prints last in `go test ./...`: once every other test binary of
// this go test has exited and go test has printed its line, it prints the
// notes they left, just before its own "ok" line. It always runs (go test
// never caches it): the notes are this run's.
func Summary(m *testing.M) {
	code := m.Run()
	if g := parentGoTest(); g != nil && !testing.Verbose() && !Required() {
		notes := g.collectNotes()
		if len(notes) > 0 {
			g.tell(notes)
		}
	}
	os.Exit(code)
}
