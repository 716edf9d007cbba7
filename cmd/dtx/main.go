// Command dtx is the launcher behind ./dtx, the project's way in. It builds
// the magefiles with `go tool mage -compile` into a cache folder keyed by a
// hash of every Go source of the module, go.mod and go.sum, and runs the
// binary with the arguments. So any number of invocations can run at once
// (a build happens under a lock, once), the next invocation after a change
// of a Go file runs the new code, and nothing is written into the source
// tree: the build works on a copy of the hashed files.
//
// ./dtx (POSIX sh) only builds this program when its source changes and
// passes it the project root and the cache folder:
//
//	dtx ROOT CACHE [mage flags] target [args…]
//	dtx ROOT CACHE -completion bash
package main

import (
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

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "dtx: run the launcher through ./dtx at the project's root")
		os.Exit(2)
	}
	root, cache, args := os.Args[1], os.Args[2], os.Args[3:]
	root, err := filepath.Abs(root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dtx: %v\n", err)
		os.Exit(1)
	}
	if len(args) > 0 && args[0] == "-completion" {
		if len(args) != 2 || args[1] != "bash" {
			fmt.Fprintln(os.Stderr, "dtx: -completion takes the shell: ./dtx -completion bash")
			os.Exit(2)
		}
		fmt.Print(bashCompletion)
		return
	}
	bin, err := ensure(root, cache)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dtx: %v\n", err)
		os.Exit(1)
	}
	// exec, not a child: signals, the terminal and the exit status are the
	// target's own.
	err = syscall.Exec(bin, append([]string{"dtx"}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "dtx: run %s: %v\n", bin, err)
	os.Exit(1)
}

// source is one file the binary is built from, as read once: its hash and
// its build copy come from the same bytes.
type source struct {
	rel  string // slash-separated, relative to the root
	data []byte
}

// sources reads go.mod, go.sum and every non-test Go file of the module
// under root, sorted by path. It skips what the go command skips (folders
// starting with . or _, testdata), nested modules, node_modules, and
// folders it cannot read (data folders a container created as root).
func sources(root string) ([]source, error) {
	var files []source
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() && path != root {
				return filepath.SkipDir
			}
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path == root {
				return nil
			}
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		isGo := strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")
		if !d.Type().IsRegular() || !(isGo || rel == "go.mod" || rel == "go.sum") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files = append(files, source{rel: rel, data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files, nil
}

// hash identifies a build: the files' paths and contents, and the platform.
func hash(files []source) string {
	h := sha256.New()
	fmt.Fprintf(h, "dtx launcher 1 %s/%s\x00", runtime.GOOS, runtime.GOARCH)
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.rel, len(f.data))
		h.Write(f.data)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// ensure returns the binary built from root's current sources, building it
// first when the cache does not have it.
func ensure(root, cache string) (string, error) {
	files, err := sources(root)
	if err != nil {
		return "", err
	}
	if !hasFile(files, "go.mod") || !hasDir(files, "magefiles/") {
		return "", fmt.Errorf("%s has no go.mod or magefiles/: run ./dtx of the project's checkout", root)
	}
	dir := filepath.Join(cache, "bin-"+hash(files))
	bin := filepath.Join(dir, "dtx")
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	unlock, err := lock(filepath.Join(cache, "lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(bin) { // another dtx built it while we waited
		return bin, nil
	}
	if err := build(files, cache, dir); err != nil {
		return "", err
	}
	prune(cache)
	return bin, nil
}

func hasFile(files []source, rel string) bool {
	for _, f := range files {
		if f.rel == rel {
			return true
		}
	}
	return false
}

func hasDir(files []source, prefix string) bool {
	for _, f := range files {
		if strings.HasPrefix(f.rel, prefix) {
			return true
		}
	}
	return false
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// lock takes the cache's build lock, saying so when another dtx holds it.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); errors.Is(err, syscall.EWOULDBLOCK) {
		fmt.Fprintln(os.Stderr, "dtx: waiting for another dtx to finish building the tool…")
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Closing the file releases the lock, also when the process dies.
	return func() { f.Close() }, nil
}

// build writes the sources into a staging copy of the module (mage writes
// its generated main file beside the magefiles while it compiles, and must
// not do it in the checkout), compiles them there and moves the binary's
// folder into place in one rename. The caller holds the lock.
func build(files []source, cache, dir string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return errors.New("go is not on PATH: install Go (https://go.dev/dl) or add its bin folder (/usr/local/go/bin) to PATH")
	}
	// Staging folders left by a dtx that was killed: nobody else builds now.
	if old, _ := filepath.Glob(filepath.Join(cache, "build-*")); len(old) > 0 {
		for _, o := range old {
			os.RemoveAll(o)
		}
	}
	stage, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for _, f := range files {
		p := filepath.Join(stage, "src", filepath.FromSlash(f.rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return err
		}
	}
	if prev, _ := filepath.Glob(filepath.Join(cache, "bin-*")); len(prev) > 0 {
		fmt.Fprintln(os.Stderr, "dtx: the Go sources changed: building the tool again…")
	} else {
		fmt.Fprintln(os.Stderr, "dtx: building the tool (first run: about a minute on a fresh machine)…")
	}
	out := filepath.Join(stage, "out")
	cmd := exec.Command(goCmd, "tool", "mage", "-compile", filepath.Join(out, "dtx"))
	cmd.Dir = filepath.Join(stage, "src")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the magefiles failed (%v): fix the error above", err)
	}
	os.RemoveAll(dir) // a partial folder cannot be there (rename is atomic), but a broken one could
	return os.Rename(out, dir)
}

// prune removes all but the keep most recently built binaries, and
// launchers (./dtx builds one per version of this file) other than this one
// built more than a week ago: another checkout may still use a recent one.
func prune(cache string) {
	self, _ := os.Executable()
	launchers, _ := filepath.Glob(filepath.Join(cache, "launcher-*"))
	for _, l := range launchers {
		if fi, err := os.Stat(l); err == nil && l != self && time.Since(fi.ModTime()) > 7*24*time.Hour {
			os.Remove(l)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(cache, "bin-*"))
	type built struct {
		dir string
		mod int64
	}
	var all []built
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil {
			all = append(all, built{d, fi.ModTime().UnixNano()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod > all[j].mod })
	for i := keep; i < len(all); i++ {
		// A dtx running it keeps running: Linux keeps an open binary.
		os.RemoveAll(all[i].dir)
	}
}

// bashCompletion completes targets (from the tool's own -l), environments
// (from the docker-compose.<env>.yaml files in the current folder) and the
// services of stack:exec (from docker compose config).
const bashCompletion = `# bash completion for the dtx launcher: source <(./dtx -completion bash)
_dtx() {
	# The line up to the cursor, split on blanks only: COMP_WORDBREAKS would
	# split stack:ps at its colon.
	local line=${COMP_LINE:0:COMP_POINT} cur words target="" pos=0 i
	read -ra words <<<"$line"
	[[ $line == *[[:blank:]] ]] && words+=("")
	cur=${words[${#words[@]}-1]}
	for ((i = 1; i < ${#words[@]} - 1; i++)); do
		if [[ -z $target ]]; then
			case ${words[i]} in
			-t) ((i++)) ;;
			-*) ;;
			*) target=${words[i]} ;;
			esac
		else
			((pos++))
		fi
	done
	local candidates
	if [[ -z $target ]]; then
		candidates=$("${words[0]}" -l 2>/dev/null | awk 'listing && /^  [^ ]/ { sub(/\*$/, "", $1); print $1 } /^Targets:/ { listing = 1 }')
		[[ $cur == -* ]] && candidates="-l -h -v -t -completion"
	else
		case $target:$pos in
		stack:*:0)
			local f
			for f in docker-compose.*.yaml; do
				[[ -e $f ]] || continue
				f=${f#docker-compose.}
				candidates+=" ${f%.yaml}"
			done
			;;
		stack:exec:1)
			candidates=$(docker compose -f "docker-compose.${words[i - 1]}.yaml" config --no-interpolate --services 2>/dev/null)
			;;
		esac
	fi
	COMPREPLY=()
	local c
	for c in $(compgen -W "$candidates" -- "$cur"); do
		# Completions replace only the part after the last colon.
		[[ $cur == *:* ]] && c=${c#"${cur%:*}":}
		COMPREPLY+=("$c")
	done
}
complete -F _dtx dtx ./dtx
`
