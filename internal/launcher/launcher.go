// Package launcher is the way in behind ./dtx: cmd/dtx runs its Main, and
// the tool runs its Launched at start. It builds the magefiles with mage
// into a cache folder, under a name made of a hash of everything the binary
// is built from (every Go source of the module, go.mod, go.sum, the patched
// module copies under third_party/, and the Go toolchain and settings that
// compile them), and runs the binary with the arguments. So any number of
// invocations can run at once (a build happens under a lock, once), the
// next invocation after a change runs the new code, and nothing is written
// into the source tree: the build works on a copy of the hashed files.
//
// It is on the path of every call, so a call whose binary is current does
// no work proportional to the size of the sources: an index (index.go)
// keeps each source's stat and hash, and only a file whose stat changed,
// or that changed too recently for its stat to be trusted, is read again.
// And it starts one process, not two: ./dtx runs the tool it ran last
// (CACHE/tool), which checks itself against the index (Launched) and hands
// over to the launcher only when it is not the tool of the sources as they
// are. The launcher then builds what is out of date and points CACHE/tool
// at the binary it runs.
//
// ./dtx (POSIX sh) only builds the launcher when the cache has none and
// passes it, or the tool, the project root and the cache folder:
//
//	launcher ROOT CACHE [mage flags] target [args…]
//	launcher ROOT CACHE -completion bash
//	tool -dtx-launched ROOT CACHE [mage flags] target [args…]
//
// The launcher checks itself against its own source (cmd/dtx and this
// package) and the Go version, and builds and runs the launcher of the
// checkout's source when they differ.
package launcher

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
)

// self is this package's source, and cmdSource cmd/dtx's (given to Main):
// the launcher's own source, which it compares with the checkout's to know
// whether it is the launcher of that source. Every non-test Go file of this
// package must be named here (TestEmbedsItsWholeSource).
//
//go:embed launcher.go launched.go index.go toolchain.go build.go cachedir.go completion.go
var self embed.FS

// sourceDirs are the folders of the launcher's source, relative to the
// root, each with the files its binary embeds.
var sourceDirs = []struct {
	rel   string
	files func() fs.FS
}{
	{"cmd/dtx", func() fs.FS { return cmdSource }},
	{"internal/launcher", func() fs.FS { return self }},
}

// cmdSource is cmd/dtx's source, as Main received it.
var cmdSource fs.FS = embed.FS{}

// rebuiltName is the argv[0] a launcher gives the launcher it has just
// built for the checkout's source: that one must match it, or it says so
// instead of building itself again, in a loop.
const rebuiltName = "dtx-launcher-rebuilt"

// Main is the launcher: cmd/dtx's main, which passes its own source.
func Main(cmd fs.FS) {
	cmdSource = cmd
	// A call lives a few milliseconds and allocates little: no collection.
	debug.SetGCPercent(-1)
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "dtx: run the launcher through ./dtx at the project's root")
		os.Exit(2)
	}
	l, err := newLauncher(os.Args[1], os.Args[2], os.Args[0] == rebuiltName)
	if err == nil {
		err = l.run(os.Args[3:])
	}
	var exit exitError
	if errors.As(err, &exit) {
		fmt.Fprintf(os.Stderr, "dtx: %v\n", exit.err)
		os.Exit(exit.code)
	}
	fmt.Fprintf(os.Stderr, "dtx: %v\n", err)
	os.Exit(1)
}

// exitError is an error with the exit status it calls for.
type exitError struct {
	err  error
	code int
}

func (e exitError) Error() string { return e.err.Error() }

// launcher is one call of the launcher.
type launcher struct {
	root, cache string
	rebuilt     bool   // this launcher was just built for the checkout's source
	goPath      string // the go command on PATH ("": none)

	indexChanged     bool // this call changed the index: save it
	sourcesChanged   bool // a source file changed since the index was saved
	toolchainChanged bool // so did the Go version or a setting of go env
}

func newLauncher(root, cache string, rebuilt bool) (*launcher, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(cache) {
		return nil, exitError{fmt.Errorf("the cache folder %q is not an absolute path: set XDG_CACHE_HOME (or HOME) to an absolute path", cache), 2}
	}
	if err := checkCacheDir(cache); err != nil {
		return nil, err
	}
	return &launcher{root: root, cache: cache, rebuilt: rebuilt}, nil
}

// run brings the index up to date, makes sure this is the launcher of the
// checkout's source, and runs the tool built from the current sources
// (building it first when the cache does not have it). It returns only on
// error: the tool replaces this process.
func (l *launcher) run(args []string) error {
	ix, err := l.index()
	if err != nil {
		return err
	}
	if !ix.has("go.mod") || !ix.hasUnder("magefiles/") {
		return fmt.Errorf("%s has no go.mod or magefiles/: run ./dtx of the project's checkout", l.root)
	}
	tc, err := l.toolchain(ix)
	if err != nil {
		return err
	}
	if err := l.saveIndex(ix); err != nil {
		return err
	}
	if err := l.beTheLauncherOf(ix, tc, args); err != nil {
		return err
	}
	if len(args) > 0 && args[0] == "-completion" {
		if len(args) != 2 || args[1] != "bash" {
			return exitError{errors.New("-completion takes the shell: ./dtx -completion bash"), 2}
		}
		fmt.Print(bashCompletion)
		os.Exit(0)
	}
	bin := filepath.Join(l.cache, "bin-"+toolKey(tc, ix.files()), "dtx")
	if !isExecutable(bin) {
		if bin, err = l.buildTool(tc); err != nil {
			return err
		}
	}
	l.linkTool(bin)
	// exec, not a child: signals, the terminal and the exit status are the
	// target's own.
	err = syscall.Exec(bin, append([]string{"dtx"}, args...), os.Environ())
	return fmt.Errorf("run %s: %v", bin, err)
}

func isExecutable(path string) bool {
	var st syscall.Stat_t
	return syscall.Stat(path, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Mode&0o111 != 0
}
