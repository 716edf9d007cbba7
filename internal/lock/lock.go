// Package lock keeps two commands that change the release stack from
// running at once on one server: prod:deploy, prod:rollback, prod:certbot,
// prod:renew, prod:backup and prod:restore all take the same lock, so the
// second says who holds it instead of adopting the first's containers.
package lock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// File is the lock, relative to the project root (git ignores .dtx/).
const File = ".dtx/lock"

// Holder is who holds the lock, as written into it.
type Holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"` // prod:deploy, prod:certbot…
	Since   time.Time `json:"since"`
}

// ErrHeld is returned (wrapped, with the holder) when another command
// holds the lock.
var ErrHeld = errors.New("another command that changes the release stack is running")

// Lock is a held lock; Release gives it back. The kernel releases it too
// when the process dies (kill -9, a reboot): a lock is never stale.
type Lock struct{ f *os.File }

// Take takes the lock of the project at root for command, at once or not
// at all: the error names the holder (its PID and since when).
func Take(root, command string, now time.Time) (*Lock, error) {
	path := filepath.Join(root, File)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", File, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, held(f)
		}
		return nil, fmt.Errorf("%s: lock: %w", File, err)
	}
	data, _ := json.Marshal(Holder{PID: os.Getpid(), Command: command, Since: now.UTC()})
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(data, '\n'), 0)
	}
	return &Lock{f: f}, nil
}

// held reads who holds the lock, for the error.
func held(f *os.File) error {
	var h Holder
	buf := make([]byte, 512)
	n, _ := f.ReadAt(buf, 0)
	if json.Unmarshal(trimNewline(buf[:n]), &h) != nil || h.PID == 0 {
		return fmt.Errorf("%w: wait for it to end (%s is held)", ErrHeld, File)
	}
	return fmt.Errorf("%w: %s (pid %d, since %s); wait for it to end", ErrHeld, h.Command, h.PID, h.Since.Local().Format("2006-01-02 15:04:05"))
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return b
}

// Release gives the lock back.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = l.f.Close()
	l.f = nil
}
