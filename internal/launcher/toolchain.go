package launcher

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// toolchain is how the go command builds the tool: its version and every
// setting that changes the binary, as `go env` prints them with the
// environment the build runs with (buildEnv). A `go env` costs a process
// (about 12 ms), so its answer is kept in the index with a fingerprint of
// everything the answer depends on (see toolchainFingerprint); the go
// command is asked again only when that fingerprint changes.
type toolchain struct {
	fingerprint string
	settings    []string // NAME=value, in the order of goSettings
}

// goSettings are the go env values that change the binary the tool is
// built into: the Go version (a Go security fix must reach the tool), the
// platform, the flags (build tags come in GOFLAGS), the experiments and the
// instruction-set levels. Not cgo's: buildEnv turns it off.
var goSettings = []string{
	"GOVERSION", "GOROOT", "GOOS", "GOARCH", "GOFLAGS", "GOWORK", "GOEXPERIMENT", "GOFIPS140",
	"GOAMD64", "GOARM", "GOARM64", "GO386", "GOMIPS", "GOMIPS64", "GOPPC64", "GORISCV64", "GOWASM",
}

// answerEnv are the environment variables go env's answer depends on,
// besides the go binary, the go env file and go.mod: the settings' own
// (except those buildEnv sets), the choice of toolchain, and where the go
// env file is.
var answerEnv = []string{
	"GOROOT", "GOFLAGS", "GOEXPERIMENT", "GOFIPS140",
	"GOAMD64", "GOARM", "GOARM64", "GO386", "GOMIPS", "GOMIPS64", "GOPPC64", "GORISCV64", "GOWASM",
	"GOTOOLCHAIN", "GOENV", "XDG_CONFIG_HOME", "HOME",
}

func (t toolchain) get(name string) string {
	for _, s := range t.settings {
		if k, v, _ := strings.Cut(s, "="); k == name {
			return v
		}
	}
	return ""
}

var errNoGo = errors.New("go is not on PATH: install Go (https://go.dev/dl) or add its bin folder (/usr/local/go/bin) to PATH")

// buildEnv is the environment of every go command the launcher runs. The
// tool runs on this machine, whatever GOOS and GOARCH say (they are the
// target's business: it still sees them), so it is built for the
// platform the launcher itself runs on. It is built from the module's
// go.mod alone: a go.work (GOWORK, or one in a parent of the cache) would
// bring other modules' sources, which no key covers.
func buildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "GOOS" && k != "GOARCH" && k != "GOWORK" && k != "CGO_ENABLED" {
			env = append(env, kv)
		}
	}
	// Without cgo, whatever CGO_ENABLED says: a static binary, which every
	// call starts without the dynamic loader and libc's start (about 1.5 ms
	// of the way in); the tool calls no C.
	return append(env, "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "GOWORK=off", "CGO_ENABLED=0")
}

// toolchain returns the go command's settings, from the index when nothing
// they depend on changed. Without go on PATH it trusts the index: go is
// needed only to build (a cron job with a bare PATH runs a built tool).
func (l *launcher) toolchain(ix *index) (toolchain, error) {
	goPath, found := lookPath("go")
	if !found {
		if len(ix.tool.settings) > 0 {
			return ix.tool, nil
		}
		return toolchain{}, errNoGo
	}
	l.goPath = goPath
	if len(ix.tool.settings) > 0 && ix.tool.fingerprint == toolchainFingerprint(goPath, ix, ix.tool) {
		return ix.tool, nil
	}
	cmd := exec.Command(goPath, append([]string{"env"}, goSettings...)...)
	cmd.Dir, cmd.Env, cmd.Stderr = l.root, buildEnv(), os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return toolchain{}, fmt.Errorf("%s env (the Go version and settings the tool is built with) failed: %v", goPath, err)
	}
	values := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(values) != len(goSettings) {
		return toolchain{}, fmt.Errorf("%s env printed %d lines for %d settings: is it the go command?", goPath, len(values), len(goSettings))
	}
	tc := toolchain{settings: make([]string, len(goSettings))}
	for i, name := range goSettings {
		tc.settings[i] = name + "=" + values[i]
	}
	tc.fingerprint = toolchainFingerprint(goPath, ix, tc)
	if len(ix.tool.settings) > 0 && strings.Join(ix.tool.settings, "\n") != strings.Join(tc.settings, "\n") {
		l.toolchainChanged = true
	}
	ix.tool = tc
	l.indexChanged = true
	return tc, nil
}

// toolchainFingerprint covers what go env's answer depends on: the
// variables of answerEnv, the go binary found on PATH (a new Go replaces
// it), the go env file (go env -w), go.mod (its go and toolchain lines
// choose the toolchain), and the VERSION file of the GOROOT the answer
// named. Stats, no reads: it runs on every call.
func toolchainFingerprint(goPath string, ix *index, tc toolchain) string {
	var b []byte
	for _, name := range answerEnv {
		b = append(b, name...)
		if v, ok := os.LookupEnv(name); ok {
			b = append(b, '=')
			b = append(b, v...)
		}
		b = append(b, 0)
	}
	b = appendStat(b, goPath)
	envFile := os.Getenv("GOENV")
	if envFile == "" {
		if dir, err := os.UserConfigDir(); err == nil {
			envFile = filepath.Join(dir, "go", "env")
		}
	}
	if envFile != "off" {
		b = appendStat(b, envFile)
	}
	for _, e := range ix.entries {
		if e.rel == "go.mod" {
			b = append(b, e.sum[:]...)
		}
	}
	if goroot := tc.get("GOROOT"); goroot != "" {
		b = appendStat(b, filepath.Join(goroot, "VERSION"))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// appendStat appends path and what stat (following links) says about it.
func appendStat(b []byte, path string) []byte {
	b = append(b, path...)
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return append(append(b, " absent: "...), err.Error()...)
	}
	fp := fingerprintOf(&st)
	for _, n := range []int64{fp.size, fp.mtime, fp.ctime, int64(fp.ino), int64(fp.mode)} {
		b = strconv.AppendInt(append(b, ' '), n, 10)
	}
	return append(b, 0)
}

// lookPath finds an executable file name in PATH, as a shell does (and
// exec.LookPath, without what a call does not need: a few stats).
func lookPath(name string) (string, bool) {
	if strings.Contains(name, "/") {
		return name, isExecutable(name)
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // "" and relative entries mean the current folder: not trusted
		}
		if path := dir + "/" + name; isExecutable(path) {
			return path, true
		}
	}
	return "", false
}

// toolKey names the tool's binary: the toolchain's settings and every
// source file, path and content.
func toolKey(tc toolchain, files []fileSum) string {
	h := sha256.New()
	h.Write([]byte("dtx tool 2\n"))
	for _, s := range tc.settings {
		h.Write([]byte(s))
		h.Write([]byte{'\n'})
	}
	writeFiles(h, files)
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// writeFiles writes each file's path and hash into h.
func writeFiles(h hash.Hash, files []fileSum) {
	for _, f := range files {
		h.Write([]byte(f.rel))
		h.Write([]byte{0})
		h.Write(f.sum[:])
	}
}
