package lock

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// Holding tells who holds the lock of the project at root, without taking
// it (prod:status reads it while a deploy runs): the holder written in the
// file, when its process is alive. Taking the lock, even shared and for
// an instant, could make a deploy starting at that instant fail.
func Holding(root string) (Holder, bool) {
	data, err := os.ReadFile(filepath.Join(root, File))
	if err != nil {
		return Holder{}, false
	}
	var h Holder
	if json.Unmarshal(trimNewline(data), &h) != nil || h.PID <= 0 {
		return Holder{}, false
	}
	// A holder killed with -9 leaves its line behind (the kernel releases
	// the lock, not the file): only a live process holds it.
	if err := syscall.Kill(h.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return Holder{}, false
	}
	return h, true
}
