package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// How the note gets to the end of `go test ./...`, given what go test does
// (cmd/go/internal/test):
//
//   - It prints a package's output only when the package fails (or with
//     -v): a passing package is one "ok" line, whatever it printed. So a
//     note must go to go test's own output, around it: the test binary
//     writes to the file descriptor of its parent, go test (see tell).
//   - It prints the packages' lines in the order of their paths, each when
//     its package is done, running several packages at once. So the note
//     is printed by the package whose path sorts last, testsummary: it
//     runs last, waits until every other test binary of this go test has
//     exited (go test has then printed their lines), and prints the notes
//     the others left in a folder of this go test's own (spoolDir).
//   - It caches a passing package's result, and a cached rerun does not
//     run the test binary at all. It keys the result with what the test
//     read, through the log the testing package keeps (os.Getenv, os.Open,
//     os.Chdir...), skipping files outside the module. A chdir is kept
//     with the stat of its folder, wherever it is: the folder of go's
//     own temporary work folders changes with every go command. So a
//     package whose tests skipped is run again next time (see NeverCache),
//     and so is testsummary.

// NeverCache keeps go test from caching the result of t's package: the
// package will run again next time. Tests that skipped for something the
// machine lacks call it (through Missing): next time it may be there.
// It changes the working folder for an instant: see neverCache.
func NeverCache(t testing.TB) {
	t.Helper()
	neverCache()
}

var neverCacheOnce sync.Once

// neverCache changes the working folder to the one go creates its work
// folder in (GOTMPDIR, or the temporary folder), and back. go test keys
// the result with that folder's stat, which the next go command changes.
// The package's other tests use absolute paths (repoRoot), or the instant
// is harmless: the folder is changed back at once, under a lock of its own.
func neverCache() {
	neverCacheOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		work := os.Getenv("GOTMPDIR")
		if work == "" {
			work = os.TempDir()
		}
		if os.Chdir(work) == nil {
			os.Chdir(dir)
		}
	})
}

// goTest is the go test process that runs this test binary.
type goTest struct {
	pid   int
	start string   // its start time (/proc/PID/stat): with pid, which go test it is
	args  []string // its arguments after "test"
	dir   string   // its working folder
}

// parentGoTest returns the go test running this test binary; nil when the
// binary runs some other way (by hand, from go test -c).
func parentGoTest() *goTest {
	pid := os.Getppid()
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	argv := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	if len(argv) < 2 || filepath.Base(argv[0]) != "go" && !strings.HasPrefix(filepath.Base(argv[0]), "go1.") {
		return nil
	}
	dir, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return nil
	}
	args := argv[1:]
	// go -C dir test …
	for len(args) > 0 && strings.HasPrefix(args[0], "-C") {
		var to string
		if v, ok := strings.CutPrefix(args[0], "-C="); ok {
			to, args = v, args[1:]
		} else if len(args) > 1 && args[0] == "-C" {
			to, args = args[1], args[2:]
		} else {
			return nil
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(dir, to)
		}
		dir = to
	}
	if len(args) == 0 || args[0] != "test" {
		return nil
	}
	start := startTime(pid)
	if start == "" {
		return nil
	}
	return &goTest{pid: pid, start: start, args: args[1:], dir: dir}
}

// startTime is field 22 of /proc/PID/stat, the process's start time.
func startTime(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}

// boolFlags are go test's flags that take no value (`-v ./...`: ./... is
// a package); any other flag without "=" takes the next argument. A flag
// missing here makes the package after it look like its value: the note
// is then printed by its own package, in the middle; it is never lost.
var boolFlags = []string{
	"a", "n", "x", "v", "c", "i", "work", "race", "msan", "asan", "cover", "json", "failfast",
	"short", "benchmem", "trimpath", "linkshared", "modcacherw", "buildvcs", "artifacts", "fullpath",
}

// packages returns the package arguments of go test.
func (g *goTest) packages() []string {
	var pkgs []string
	for i := 0; i < len(g.args); i++ {
		a := g.args[i]
		if a == "-args" || a == "--args" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			pkgs = append(pkgs, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if !slices.Contains(boolFlags, strings.TrimPrefix(name, "test.")) {
			i++ // its value
		}
	}
	return pkgs
}

// json reports whether go test prints JSON (-json): nothing else may go to
// its standard output then.
func (g *goTest) json() bool {
	for _, a := range g.args {
		if a == "-json" || a == "--json" || a == "-json=true" || a == "--json=true" {
			return true
		}
		if a == "-args" || a == "--args" {
			break
		}
	}
	return false
}

// runs reports whether go test runs the package in folder dir, whose
// import path is path: one of its package arguments names it or matches it
// (... matching any string, a trailing /... the folder itself too).
func (g *goTest) runs(dir, path string) bool {
	pkgs := g.packages()
	if len(pkgs) == 0 {
		pkgs = []string{"."}
	}
	for _, p := range pkgs {
		switch {
		case p == "all":
			return true
		case p == "." || p == ".." || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") || filepath.IsAbs(p):
			if !filepath.IsAbs(p) {
				p = filepath.Join(g.dir, p) // cleans ./... into DIR/...
			}
			if matchPattern(p, dir) {
				return true
			}
		case matchPattern(p, path):
			return true
		}
	}
	return false
}

// matchPattern is go's rule for a package pattern.
func matchPattern(pattern, name string) bool {
	re := regexp.QuoteMeta(pattern)
	re = strings.ReplaceAll(re, `\.\.\.`, `.*`)
	if strings.HasSuffix(re, `/.*`) {
		re = strings.TrimSuffix(re, `/.*`) + `(/.*)?`
	}
	ok, _ := regexp.MatchString("^"+re+"$", name)
	return ok
}

// summaryDir is the folder of testsummary in the module.
const summaryDir = "testsummary"

// summary returns the folder and import path of testsummary: this test
// binary runs in its package's folder, inside the module.
func summary() (dir, path string, ok bool) {
	here, err := os.Getwd()
	if err != nil {
		return "", "", false
	}
	for root := here; ; root = filepath.Dir(root) {
		if f, err := os.Open(filepath.Join(root, "go.mod")); err == nil {
			defer f.Close()
			lines := bufio.NewScanner(f)
			for lines.Scan() {
				if mod, ok := strings.CutPrefix(strings.TrimSpace(lines.Text()), "module "); ok {
					return filepath.Join(root, summaryDir), strings.Trim(strings.TrimSpace(mod), `"`) + "/" + summaryDir, true
				}
			}
			return "", "", false
		}
		if filepath.Dir(root) == root {
			return "", "", false
		}
	}
}

// runsSummary reports whether this go test runs testsummary.
func (g *goTest) runsSummary() bool {
	dir, path, ok := summary()
	if !ok {
		return false
	}
	if _, err := os.Stat(dir); err != nil {
		return false
	}
	return g.runs(dir, path)
}

// spoolRoot is the folder of the notes of every go test of this user.
func spoolRoot() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("dtx-testenv-%d", os.Geteuid()))
}

// spoolDir is the folder of this go test's notes, made if need be. The
// folder of every go test's is the user's own (0700), or none is used.
func (g *goTest) spoolDir() (string, error) {
	root := spoolRoot()
	if err := os.Mkdir(root, 0o700); err != nil && !os.IsExist(err) {
		return "", err
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(root, &st); err != nil {
		return "", err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != os.Geteuid() || st.Mode&0o077 != 0 {
		return "", fmt.Errorf("%s is not a folder of this user's only", root)
	}
	dir := filepath.Join(root, fmt.Sprintf("%d-%s", g.pid, g.start))
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", err
	}
	return dir, nil
}

// leaveNote hands note to testsummary when this go test runs it, and
// prints it at once otherwise.
func leaveNote(note string) {
	g := parentGoTest()
	if g == nil {
		// Not under go test: this binary's own standard error is the user's.
		os.Stderr.WriteString(note)
		return
	}
	if g.runsSummary() {
		if dir, err := g.spoolDir(); err == nil {
			name := fmt.Sprintf("%s-%d", filepath.Base(os.Args[0]), os.Getpid())
			if os.WriteFile(filepath.Join(dir, name), []byte(note), 0o600) == nil {
				return
			}
		}
	}
	g.tell([]string{note})
}

// collectNotes waits until every other test binary of this go test has
// exited, and go test has printed their lines, then returns the notes they
// left (removing them) and clears the notes of go tests long gone.
func (g *goTest) collectNotes() []string {
	g.waitForTheOthers()
	dir, err := g.spoolDir()
	if err != nil {
		return nil
	}
	var notes []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			notes = append(notes, string(data))
		}
	}
	os.RemoveAll(dir)
	if old, err := os.ReadDir(spoolRoot()); err == nil {
		for _, e := range old {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
				os.RemoveAll(filepath.Join(spoolRoot(), e.Name()))
			}
		}
	}
	sort.Strings(notes)
	return slices.Compact(notes)
}

// settle is how long go test takes, at most, to print a package's line
// once its test binary has exited (it saves the result in its cache
// first); and how long the others must have been gone.
const settle = 300 * time.Millisecond

// waitForTheOthers returns when go test has had no child process but this
// one (no test binary running, no compiler, no vet) for settle, twice in a
// row: it then has nothing left to run but this binary and to print but
// this package's line.
func (g *goTest) waitForTheOthers() {
	quiet := 0
	for quiet < 2 {
		if g.othersRunning() {
			quiet = 0
			time.Sleep(50 * time.Millisecond)
			continue
		}
		quiet++
		time.Sleep(settle)
	}
}

// othersRunning reports whether go test has a child process besides this
// one.
func (g *goTest) othersRunning() bool {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	self, parent := os.Getpid(), strconv.Itoa(g.pid)
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: the command name may hold spaces.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == parent {
				return true
			}
		}
	}
	return false
}
