package testenv

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records Fatal and Skip instead of stopping.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()           {}
func (r *recorder) Fatal(args ...any) { r.fatal = args[0].(string) }
func (r *recorder) Skip(args ...any)  { r.skip = args[0].(string) }

func TestMissingSkipsOrFails(t *testing.T) {
	t.Setenv("DTX_E2E", "")
	r := &recorder{}
	Missing(r, "no engine")
	if r.skip != "no engine" || r.fatal != "" {
		t.Errorf("without DTX_E2E: skip %q fatal %q, want a skip", r.skip, r.fatal)
	}
	t.Setenv("DTX_E2E", "required")
	r = &recorder{}
	Missing(r, "no engine")
	if r.fatal != "no engine" || r.skip != "" {
		t.Errorf("DTX_E2E=required: skip %q fatal %q, want a failure", r.skip, r.fatal)
	}
}

func TestNeedCommand(t *testing.T) {
	t.Setenv("DTX_E2E", "required")
	r := &recorder{}
	NeedCommand(r, "sh", "install a shell")
	if r.fatal != "" || r.skip != "" {
		t.Errorf("sh is on PATH, yet: skip %q fatal %q", r.skip, r.fatal)
	}
	NeedCommand(r, "dtx-no-such-command", "it does not exist")
	if want := "dtx-no-such-command is not on PATH: it does not exist"; r.fatal != want {
		t.Errorf("fatal %q, want %q", r.fatal, want)
	}
}

// The note reaches a pipe or terminal (go test's stderr) and never writes
// into a regular file.
func TestNoteGoesToAPipeNotAFile(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	note(fmt.Sprintf("/proc/self/fd/%d", w.Fd()), "skipped; bash .ci/run\n")
	w.Close()
	got, _ := io.ReadAll(r)
	if string(got) != "skipped; bash .ci/run\n" {
		t.Errorf("pipe got %q", got)
	}
	file := filepath.Join(t.TempDir(), "log")
	os.WriteFile(file, []byte("go test's own log\n"), 0o644)
	note(file, "skipped\n")
	if data, _ := os.ReadFile(file); string(data) != "go test's own log\n" {
		t.Errorf("a regular file was written: %q", data)
	}
}
