package lock

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Holding names a live holder, and no one once it released the lock or
// its process is gone (killed with -9, its line left in the file).
func TestHolding(t *testing.T) {
	root := t.TempDir()
	if _, ok := Holding(root); ok {
		t.Fatal("no lock file, yet held")
	}
	since := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	l, err := Take(root, "prod:deploy", since)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := Holding(root)
	if !ok || h.PID != os.Getpid() || h.Command != "prod:deploy" || !h.Since.Equal(since) {
		t.Errorf("held by %+v %v", h, ok)
	}
	// Holding takes nothing: the lock is still ours alone.
	if _, err := Take(root, "prod:certbot", time.Now()); err == nil {
		t.Error("Holding released the lock")
	}
	l.Release()
	if h, ok := Holding(root); ok {
		t.Errorf("released, yet held by %+v", h)
	}
	// A dead process's line.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	line := []byte(`{"pid":` + strconv.Itoa(dead.Process.Pid) + `,"command":"prod:deploy","since":"2026-12-06T10:00:00Z"}` + "\n")
	if err := os.WriteFile(filepath.Join(root, File), line, 0o600); err != nil {
		t.Fatal(err)
	}
	if h, ok := Holding(root); ok {
		t.Errorf("a dead holder holds: %+v", h)
	}
}
