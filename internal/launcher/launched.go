package launcher

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LaunchedFlag is the first argument ./dtx gives the tool it runs directly.
const LaunchedFlag = "-dtx-launched"

// toolLink is the name, in the cache, of the link to the binary the
// launcher ran last: ./dtx runs it directly.
const toolLink = "tool"

// launcherFile is the launcher ./dtx runs, in the cache (./dtx names it
// too). Launchers built before this package existed were named
// "launcher": they cannot build this one (they copy cmd/dtx alone), so
// ./dtx no longer runs them (prune removes them).
const launcherFile = "dtx-launcher"

// init is the tool's part of the way in: the magefiles import this package
// for it. When ./dtx ran the tool directly (LaunchedFlag ROOT CACHE
// args…), it makes sure this binary is the tool of ROOT's sources as they
// are, with the checks the launcher makes (the cache folder, every
// source's stat against the index, the Go toolchain's fingerprint, the key
// of the binary), and then lets the tool run with args alone. When
// anything differs, it hands over to the launcher, which builds what is
// needed and runs the right binary: a call never runs stale code, and the
// one that finds everything current starts one process instead of two
// (about 2 ms of every call).
//
// It runs in this package's initialisation, not main's: Go initialises
// packages in the order of their import paths once their imports are, so
// this one (standard imports only) runs before the project's packages
// that sort after it (internal/roles, session, targets…, and the
// magefiles); those that may run before it (whose paths sort before
// internal/launcher's) only set data up, with no effect a stale binary
// could show.
//
// Run any other way (the launcher itself, mage, a test), it does nothing.
func init() {
	if len(os.Args) < 4 || os.Args[1] != LaunchedFlag {
		return
	}
	root, cache, args := os.Args[2], os.Args[3], os.Args[4:]
	if isCurrent(root, cache, args) {
		os.Args = append([]string{"dtx"}, args...)
		return
	}
	launcher := filepath.Join(cache, launcherFile)
	err := syscall.Exec(launcher, append([]string{launcher, root, cache}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "dtx: run %s: %v: run ./dtx again (it builds the launcher when the cache has none)\n", launcher, err)
	os.Exit(1)
}

// isCurrent says whether the running binary is the one the launcher would
// run for root: nothing it reads here is written, and any doubt (no index,
// a stat that changed or is too recent to trust, a new Go) says no.
func isCurrent(root, cache string, args []string) bool {
	if len(args) > 0 && args[0] == "-completion" {
		return false // the launcher answers it
	}
	root, err := filepath.Abs(root) // as the launcher takes it
	if err != nil || !filepath.IsAbs(cache) || checkCacheDir(cache) != nil {
		return false
	}
	ix := readIndex(indexPath(cache, root), root)
	if ix == nil || len(ix.tool.settings) == 0 {
		return false
	}
	if now, _, err := newScanner(root).refresh(ix); err != nil || now != ix {
		return false
	}
	if goPath, found := lookPath("go"); found && toolchainFingerprint(goPath, ix, ix.tool) != ix.tool.fingerprint {
		return false
	}
	// The same file, not the same path: the cache's path may go through a
	// symbolic link, which the running binary's path has resolved.
	want, err := os.Stat(filepath.Join(cache, "bin-"+toolKey(ix.tool, ix.files()), "dtx"))
	if err != nil {
		return false
	}
	self, err := os.Stat("/proc/self/exe")
	return err == nil && os.SameFile(want, self)
}

// linkTool points CACHE/tool at bin, the binary this call runs, so that
// the next ./dtx runs it directly. The link is made beside and renamed
// over the old one: a concurrent ./dtx sees the old or the new.
func (l *launcher) linkTool(bin string) {
	link := filepath.Join(l.cache, toolLink)
	if current, err := os.Readlink(link); err == nil && current == bin {
		return
	}
	tmp := fmt.Sprintf("%s.%d.tmp", link, os.Getpid())
	os.Remove(tmp)
	if os.Symlink(bin, tmp) == nil && os.Rename(tmp, link) != nil {
		os.Remove(tmp)
	}
}
