package inittrace

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Through ./dtx, the launcher's trace comes first and the tool's after it,
// mixed with the tool's own output: only the tool's counts.
func TestParseKeepsTheLastProgram(t *testing.T) {
	out := `init internal/bytealg @0.010 ms, 0 ms clock, 0 bytes, 0 allocs
init runtime @0.05 ms, 0.08 ms clock, 0 bytes, 0 allocs
init os @0.4 ms, 0.02 ms clock, 432 bytes, 9 allocs
init internal/bytealg @0.012 ms, 0 ms clock, 0 bytes, 0 allocs
init runtime @0.07 ms, 0.1 ms clock, 0 bytes, 0 allocs
init github.com/santhosh-tekuri/jsonschema/v6 @2.1 ms, 5.5 ms clock, 1700496 bytes, 20153 allocs
init github.com/distribution/reference @1.0 ms, 0.94 ms clock, 414456 bytes, 3599 allocs
init gopkg.in/yaml%2ev3 @6.1 ms, 0.058 ms clock, 25720 bytes, 276 allocs
Targets:
  check    runs the doctor
  init x   a line that starts like one but is not
`
	tr, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 5 || tr[0].Path != "internal/bytealg" || tr[4].Path != "gopkg.in/yaml%2ev3" {
		t.Fatalf("trace %+v, want the second program's 5 packages", tr)
	}
	if got, want := tr.Clock(), 6598*time.Microsecond; got != want {
		t.Errorf("clock %v, want %v", got, want)
	}
	if got, want := tr.Bytes(), int64(1700496+414456+25720); got != want {
		t.Errorf("bytes %d, want %d", got, want)
	}
	costly := tr.Costly()
	if len(costly) != 2 || costly[0].Path != "github.com/santhosh-tekuri/jsonschema/v6" || costly[1].Allocs != 3599 {
		t.Errorf("costly %+v, want jsonschema then reference", costly)
	}
	if s := tr.Slowest(1); len(s) != 1 || s[0].Clock != 5500*time.Microsecond {
		t.Errorf("slowest %+v", s)
	}
}

func TestParseWithoutTrace(t *testing.T) {
	if _, err := Parse("Targets:\n  check\n"); err == nil || !strings.Contains(err.Error(), "GODEBUG=inittrace=1") {
		t.Fatalf("err = %v", err)
	}
}

// The format is the runtime's, not ours: read a real trace of this Go.
func TestParseReadsThisGo(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	cmd := exec.Command(goBin, "env", "GOVERSION")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go env: %v\n%s", err, out)
	}
	tr, err := Parse(string(out))
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var runtime bool
	for _, p := range tr {
		runtime = runtime || p.Path == "runtime"
	}
	if !runtime || tr.Bytes() == 0 {
		t.Fatalf("trace of go env: %d packages, runtime %v, %d bytes:\n%s", len(tr), runtime, tr.Bytes(), out)
	}
}
