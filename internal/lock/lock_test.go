package lock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecondTakerIsRefusedWithTheHolder(t *testing.T) {
	root := t.TempDir()
	l, err := Take(root, "prod:deploy", time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Take(root, "prod:certbot", time.Now())
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "prod:deploy (pid ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(root, File)); fi.Mode().Perm() != 0o600 {
		t.Errorf("lock mode %v", fi.Mode().Perm())
	}
	l.Release()
	again, err := Take(root, "prod:certbot", time.Now())
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again.Release()
}

// A holder killed with SIGKILL leaves no stale lock: the kernel drops a
// dead process's flock.
func TestKilledHolderLeavesNoLock(t *testing.T) {
	if os.Getenv("DTX_LOCK_HOLDER") != "" {
		if _, err := Take(os.Getenv("DTX_LOCK_HOLDER"), "prod:deploy", time.Now()); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("held\n")
		time.Sleep(time.Minute)
		return
	}
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestKilledHolderLeavesNoLock$")
	cmd.Env = append(os.Environ(), "DTX_LOCK_HOLDER="+root)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || string(buf[:4]) != "held" {
		t.Fatalf("holder did not start: %v %q", err, buf)
	}
	if _, err := Take(root, "prod:deploy", time.Now()); !errors.Is(err, ErrHeld) {
		t.Fatalf("not held while the holder runs: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := Take(root, "prod:deploy", time.Now())
	if err != nil {
		t.Fatalf("after kill -9: %v", err)
	}
	l.Release()
}
