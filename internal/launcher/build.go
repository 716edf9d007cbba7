package launcher

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// keep is how many built binaries the cache keeps (several checkouts on one
// machine, a branch switched back and forth); older ones are removed.
const keep = 5

// say tells the user what the launcher is doing, before it does it.
func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "dtx: "+format+"\n", args...)
}

// index returns root's index, brought up to date and saved.
func (l *launcher) index() (*index, error) {
	path := indexPath(l.cache, l.root)
	old := readIndex(path, l.root)
	ix, _, err := newScanner(l.root).refresh(old)
	if err != nil {
		return nil, err
	}
	l.indexChanged = ix != old
	l.sourcesChanged = old != nil && ix != old && !sameFiles(old.files(), ix.files())
	return ix, nil
}

func sameFiles(a, b []fileSum) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// saveIndex writes the index when this call changed it.
func (l *launcher) saveIndex(ix *index) error {
	if !l.indexChanged {
		return nil
	}
	return writeIndex(indexPath(l.cache, l.root), ix)
}

// lock takes the cache's build lock, saying so when another dtx holds it.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); errors.Is(err, syscall.EWOULDBLOCK) {
		say("waiting for another dtx to finish building the tool…")
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Closing the file releases the lock, also when the process dies.
	return func() { f.Close() }, nil
}

// stage returns the staging folder, empty: always the same folder (the
// caller holds the lock), so that the go command's build cache, whose keys
// include the source folders, recompiles only the packages that changed.
// It also removes the staging folders of earlier launchers.
func (l *launcher) stage() (string, error) {
	if old, _ := filepath.Glob(filepath.Join(l.cache, "build-*")); len(old) > 0 {
		for _, o := range old {
			os.RemoveAll(o)
		}
	}
	dir := filepath.Join(l.cache, "build")
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, os.Mkdir(dir, 0o700)
}

// writeSources writes files under dir.
func writeSources(dir string, files []source) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sourcesToBuild takes the cache's build lock (the caller releases it)
// and reads every source as it is now: what a build of the tool or of the
// launcher starts with.
func (l *launcher) sourcesToBuild() (files []source, sums []fileSum, unlock func(), err error) {
	if l.goPath == "" {
		return nil, nil, nil, errNoGo
	}
	if unlock, err = lock(filepath.Join(l.cache, "lock")); err != nil {
		return nil, nil, nil, err
	}
	if files, sums, err = newScanner(l.root).readSources(); err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return files, sums, unlock, nil
}

// buildTool builds the magefiles from the sources as they are now and
// returns the binary. It writes them into a staging copy of the module
// (mage writes its generated main file beside the magefiles while it
// compiles, and must not do it in the checkout), compiles them there and
// moves the binary's folder into place in one rename.
func (l *launcher) buildTool(tc toolchain) (string, error) {
	files, sums, unlock, err := l.sourcesToBuild()
	if err != nil {
		return "", err
	}
	defer unlock()
	dir := filepath.Join(l.cache, "bin-"+toolKey(tc, sums))
	bin := filepath.Join(dir, "dtx")
	if isExecutable(bin) { // another dtx built it while we waited
		return bin, nil
	}
	switch prev, _ := filepath.Glob(filepath.Join(l.cache, "bin-*")); {
	case len(prev) == 0:
		say("building the tool (first run: about a minute on a fresh machine)…")
	case l.sourcesChanged:
		say("the Go sources changed: building the tool again…")
	case l.toolchainChanged:
		say("Go or its settings changed (%s): building the tool again…", tc.get("GOVERSION"))
	default:
		say("building the tool for these sources and Go settings…")
	}
	stage, err := l.stage()
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	src := filepath.Join(stage, "src")
	if err := writeSources(src, files); err != nil {
		return "", err
	}
	env := buildEnv()
	say("compiling mage (go tool mage)…")
	var magePath bytes.Buffer
	cmd := exec.Command(l.goPath, "tool", "-n", "mage")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = src, env, &magePath, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building mage failed (%v): see the error above", err)
	}
	say("compiling the targets (magefiles/, internal/) with mage…")
	out := filepath.Join(stage, "out")
	cmd = exec.Command(strings.TrimSpace(magePath.String()), "-compile", filepath.Join(out, "dtx"),
		"-gocmd", l.goPath, "-goos", runtime.GOOS, "-goarch", runtime.GOARCH)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = src, env, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the magefiles failed (%v): fix the error above", err)
	}
	os.RemoveAll(dir) // a partial folder cannot be there (rename is atomic), but a broken one could
	if err := os.Rename(out, dir); err != nil {
		return "", err
	}
	l.prune()
	return bin, nil
}

// ownSource is the launcher's own source, from the embedded copies, sorted
// by path as the index's files are.
func ownSource() []fileSum {
	var files []fileSum
	for _, d := range sourceDirs {
		list, _ := fs.ReadDir(d.files(), ".")
		for _, e := range list {
			data, _ := fs.ReadFile(d.files(), e.Name())
			files = append(files, fileSum{d.rel + "/" + e.Name(), sha256.Sum256(data)})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files
}

// inLauncherSource says whether a source file (rel to the root) is one of
// the launcher's: directly in one of its folders.
func inLauncherSource(rel string) bool {
	for _, d := range sourceDirs {
		if name, ok := strings.CutPrefix(rel, d.rel+"/"); ok && !strings.Contains(name, "/") {
			return true
		}
	}
	return false
}

// launcherSource is the checkout's launcher source: the index's files
// directly in its folders.
func launcherSource(ix *index) []fileSum {
	var files []fileSum
	for _, f := range ix.files() {
		if inLauncherSource(f.rel) {
			files = append(files, f)
		}
	}
	return files
}

// goVersion is the Go version this launcher was built with, without the
// experiments it may list after it.
func goVersion() string {
	v, _, _ := strings.Cut(runtime.Version(), " ")
	return v
}

// launcherKey names the launcher built from files by Go version.
func launcherKey(version string, files []fileSum) string {
	h := sha256.New()
	h.Write([]byte("dtx launcher 2\n" + version + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"))
	writeFiles(h, files)
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// beTheLauncherOf returns when this launcher is the one of the checkout's
// cmd/dtx, built by the Go that builds the tool. Otherwise it runs that
// launcher in its place (building it first when the cache does not have
// it): it does not return then, but on error.
func (l *launcher) beTheLauncherOf(ix *index, tc toolchain, args []string) error {
	want := launcherSource(ix)
	version := tc.get("GOVERSION")
	if sameFiles(want, ownSource()) && version == goVersion() {
		return nil
	}
	if l.rebuilt {
		return errors.New("the launcher just built from cmd/dtx and internal/launcher does not match them (a file changed during the build, or is missing from a go:embed line of cmd/dtx/main.go or internal/launcher/launcher.go): run ./dtx again")
	}
	path := filepath.Join(l.cache, "launcher-"+launcherKey(version, want))
	if !isExecutable(path) {
		var err error
		if path, err = l.buildLauncher(version); err != nil {
			return err
		}
	}
	err := syscall.Exec(path, append([]string{rebuiltName, l.root, l.cache}, args...), os.Environ())
	return fmt.Errorf("run %s: %v", path, err)
}

// buildLauncher builds the launcher from the checkout's cmd/dtx and
// internal/launcher as they are now and makes it the one ./dtx runs.
func (l *launcher) buildLauncher(version string) (string, error) {
	all, _, unlock, err := l.sourcesToBuild()
	if err != nil {
		return "", err
	}
	defer unlock()
	var files []source
	var sums []fileSum
	for _, f := range all {
		// go.mod's replace lines name the folders under third_party/: the
		// go command reads their go.mod to load the module's graph.
		ok := inLauncherSource(f.rel)
		if ok || f.rel == "go.mod" || f.rel == "go.sum" || inThirdParty(f.rel) {
			files = append(files, f)
		}
		if ok {
			sums = append(sums, fileSum{f.rel, sha256.Sum256(f.data)})
		}
	}
	path := filepath.Join(l.cache, "launcher-"+launcherKey(version, sums))
	if isExecutable(path) {
		return path, nil
	}
	if version != goVersion() {
		say("Go is now %s (the launcher was built with %s): compiling the launcher again…", version, goVersion())
	} else {
		say("the launcher's source (cmd/dtx, internal/launcher) changed: compiling it again…")
	}
	stage, err := l.stage()
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	src := filepath.Join(stage, "src")
	if err := writeSources(src, files); err != nil {
		return "", err
	}
	// As ./dtx builds it: for this machine, without cgo, the user's GOFLAGS
	// replaced (an empty value would let go env -w's through).
	env := append(buildEnv(), "GOFLAGS=-trimpath")
	cmd := exec.Command(l.goPath, "build", "-o", filepath.Join(stage, "launcher"), "./cmd/dtx")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = src, env, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the launcher (cmd/dtx) failed (%v): fix the error above", err)
	}
	if err := os.Rename(filepath.Join(stage, "launcher"), path); err != nil {
		return "", err
	}
	// ./dtx runs this one from now on: a hard link renamed over the old
	// one. The old one, when it is this launcher, stays under its own name
	// (a checkout of its source, or its Go, runs it without a build).
	current := filepath.Join(l.cache, launcherFile)
	var exe, cur syscall.Stat_t
	if syscall.Stat("/proc/self/exe", &exe) == nil && syscall.Stat(current, &cur) == nil && exe.Ino == cur.Ino && exe.Dev == cur.Dev {
		os.Link(current, filepath.Join(l.cache, "launcher-"+launcherKey(goVersion(), ownSource())))
	}
	tmp := filepath.Join(l.cache, "launcher.new.tmp")
	os.Remove(tmp)
	if err := os.Link(path, tmp); err == nil {
		os.Rename(tmp, current)
	}
	l.prune()
	return path, nil
}

// prune removes all but the keep most recently built binaries; launchers
// (one per version of cmd/dtx and Go) other than the current ones built
// more than a week ago (another checkout may still use a recent one);
// indexes untouched for a month (of checkouts gone, most likely: an index
// is only a cache); and temporary files a killed dtx left.
func (l *launcher) prune() {
	now := time.Now()
	current := map[uint64]bool{}
	var st syscall.Stat_t
	for _, p := range []string{filepath.Join(l.cache, launcherFile), "/proc/self/exe"} {
		if syscall.Stat(p, &st) == nil {
			current[st.Ino] = true
		}
	}
	entries, _ := os.ReadDir(l.cache)
	type built struct {
		dir string
		mod time.Time
	}
	var bins []built
	for _, d := range entries {
		name, path := d.Name(), filepath.Join(l.cache, d.Name())
		info, err := d.Info()
		if err != nil {
			continue
		}
		age := now.Sub(info.ModTime())
		switch {
		case strings.HasPrefix(name, "bin-"):
			bins = append(bins, built{path, info.ModTime()})
		case strings.HasPrefix(name, "launcher-") && age > 7*24*time.Hour:
			if sys, ok := info.Sys().(*syscall.Stat_t); ok && !current[sys.Ino] {
				os.Remove(path)
			}
		case strings.HasPrefix(name, "index-") && age > 30*24*time.Hour,
			strings.HasSuffix(name, ".tmp") && age > 24*time.Hour,
			name == "launcher": // of the launchers before launcherFile's name
			os.Remove(path)
		}
	}
	sort.Slice(bins, func(i, j int) bool { return bins[i].mod.After(bins[j].mod) })
	for i := keep; i < len(bins); i++ {
		// A dtx running it keeps running: Linux keeps an open binary.
		os.RemoveAll(bins[i].dir)
	}
}
