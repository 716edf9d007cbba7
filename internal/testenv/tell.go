package testenv

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Linux's pidfd_open(2) and pidfd_getfd(2) (5.6): the same numbers on every
// architecture.
const (
	sysPidfdOpen  = 434
	sysPidfdGetfd = 438
)

// tell writes lines to go test's own output, where its "ok" lines go (its
// standard output; its standard error under -json, whose output is JSON
// only). It reports whether it could. go test's output may be a terminal,
// a pipe or a file. A file is written at go test's own offset, through a
// copy of its descriptor (pidfd_getfd: a process of the same user may,
// unless the kernel forbids it, as Yama's ptrace_scope=1 does), or else
// only when it was opened for appending (>>): a write at any other offset
// would be overwritten by go test's next line, or land over it.
func (g *goTest) tell(lines []string) bool {
	fd := 1
	if g.json() {
		fd = 2
	}
	text := strings.Join(lines, "")
	if f := g.copyOfFd(fd); f != nil {
		defer f.Close()
		_, err := f.WriteString(text)
		return err == nil
	}
	path := fmt.Sprintf("/proc/%d/fd/%d", g.pid, fd)
	info, err := os.Stat(path)
	if err != nil {
		return false
	}
	flags := os.O_WRONLY
	if info.Mode().IsRegular() {
		if !g.appends(fd) {
			return false
		}
		flags |= os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.WriteString(text)
	return err == nil
}

// copyOfFd returns a copy of go test's descriptor fd, sharing its offset;
// nil when the kernel does not allow it.
func (g *goTest) copyOfFd(fd int) *os.File {
	pidfd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(g.pid), 0, 0)
	if errno != 0 {
		return nil
	}
	defer syscall.Close(int(pidfd))
	// The pid might be another process's by now: the start time says.
	if startTime(g.pid) != g.start {
		return nil
	}
	copied, _, errno := syscall.Syscall(sysPidfdGetfd, pidfd, uintptr(fd), 0)
	if errno != 0 {
		return nil
	}
	return os.NewFile(copied, "go test's output")
}

// appends reports whether go test's descriptor fd was opened with O_APPEND.
func (g *goTest) appends(fd int) bool {
	info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", g.pid, fd))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&syscall.O_APPEND != 0
		}
	}
	return false
}
