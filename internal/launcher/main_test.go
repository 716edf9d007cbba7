package launcher

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tree is a small module shaped like the project.
func tree(t *testing.T) string {
	root := t.TempDir()
	write(t, root, "go.mod", "module example.com/x\n")
	write(t, root, "go.sum", "")
	write(t, root, "magefiles/magefile.go", "package main\n")
	write(t, root, "internal/targets/targets.go", "package targets\n")
	write(t, root, "internal/stack/stack.go", "package stack\n")
	write(t, root, "internal/stack/stack_test.go", "package stack\n")
	write(t, root, "README.md", "read me\n")
	// A patched copy of a module, as go.mod's replace directives use.
	write(t, root, "third_party/lib/go.mod", "module example.com/lib\n")
	write(t, root, "third_party/lib/lib.go", "package lib\n")
	write(t, root, "third_party/lib/data/schema", "{}\n")
	write(t, root, "third_party/lib/lib_test.go", "package lib\n")
	return root
}

// later is a scanner whose clock is ahead by d: its index trusts the stats
// of files written just now, as one taken d after they were written would.
func later(root string, d time.Duration) *scanner {
	s := newScanner(root)
	s.now = func() int64 { return time.Now().Add(d).UnixNano() }
	return s
}

func refresh(t *testing.T, s *scanner, old *index) (*index, scanStats) {
	t.Helper()
	ix, stats, err := s.refresh(old)
	if err != nil {
		t.Fatal(err)
	}
	return ix, stats
}

var testToolchain = toolchain{settings: []string{"GOVERSION=go1.26.8", "GOOS=linux", "GOARCH=amd64"}}

func key(ix *index) string { return toolKey(testToolchain, ix.files()) }

// The build's key changes with every file the binary is built from, and
// only with those; the index brought up to date from the previous one
// gives the same key as a fresh walk.
func TestKeyFollowsTheSources(t *testing.T) {
	cases := []struct {
		name    string
		change  func(t *testing.T, root string)
		rebuild bool
	}{
		{"a magefile edited", func(t *testing.T, root string) { write(t, root, "magefiles/magefile.go", "package main // edited\n") }, true},
		{"an internal package edited", func(t *testing.T, root string) {
			write(t, root, "internal/targets/targets.go", "package targets // edited\n")
		}, true},
		{"a Go file added under internal", func(t *testing.T, root string) { write(t, root, "internal/targets/new.go", "package targets\n") }, true},
		{"a Go file added in a new folder", func(t *testing.T, root string) { write(t, root, "internal/new/new.go", "package new\n") }, true},
		{"a Go file removed", func(t *testing.T, root string) { os.Remove(filepath.Join(root, "internal/stack/stack.go")) }, true},
		{"a file renamed", func(t *testing.T, root string) {
			os.Rename(filepath.Join(root, "internal/stack/stack.go"), filepath.Join(root, "internal/stack/data.go"))
		}, true},
		{"go.mod edited", func(t *testing.T, root string) { write(t, root, "go.mod", "module example.com/x\n\ngo 1.26\n") }, true},
		{"go.sum edited", func(t *testing.T, root string) { write(t, root, "go.sum", "example.com/y v1.0.0 h1:x\n") }, true},
		{"a file touched", func(t *testing.T, root string) {
			now := time.Now()
			os.Chtimes(filepath.Join(root, "internal/stack/stack.go"), now, now)
		}, false},
		{"a file rewritten with the same content", func(t *testing.T, root string) { write(t, root, "internal/stack/stack.go", "package stack\n") }, false},
		{"a test file edited", func(t *testing.T, root string) {
			write(t, root, "internal/stack/stack_test.go", "package stack // edited\n")
		}, false},
		{"a document edited", func(t *testing.T, root string) { write(t, root, "README.md", "edited\n") }, false},
		{"a Go file in testdata", func(t *testing.T, root string) { write(t, root, "internal/stack/testdata/x.go", "package x\n") }, false},
		{"a Go file in node_modules", func(t *testing.T, root string) { write(t, root, "frontend/node_modules/x/x.go", "package x\n") }, false},
		{"a Go file in a hidden folder", func(t *testing.T, root string) { write(t, root, ".cache/x.go", "package x\n") }, false},
		{"a nested module", func(t *testing.T, root string) {
			write(t, root, "tools/go.mod", "module example.com/tools\n")
			write(t, root, "tools/x.go", "package x\n")
		}, false},
		{"a patched module's Go file under third_party", func(t *testing.T, root string) {
			write(t, root, "third_party/lib/lib.go", "package lib // patched\n")
		}, true},
		{"a file a patched module embeds", func(t *testing.T, root string) {
			write(t, root, "third_party/lib/data/schema", "{\"changed\": true}\n")
		}, true},
		{"a patched module's go.mod", func(t *testing.T, root string) {
			write(t, root, "third_party/lib/go.mod", "module example.com/lib\n\ngo 1.26\n")
		}, true},
		{"a patched module's test", func(t *testing.T, root string) {
			write(t, root, "third_party/lib/lib_test.go", "package lib // edited\n")
		}, false},
		{"an unreadable data folder", func(t *testing.T, root string) {
			write(t, root, "nginx/data/ssl/key.pem", "secret\n")
			os.Chmod(filepath.Join(root, "nginx/data/ssl"), 0)
			t.Cleanup(func() { os.Chmod(filepath.Join(root, "nginx/data/ssl"), 0o755) })
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := tree(t)
			before, _ := refresh(t, later(root, time.Minute), nil)
			c.change(t, root)
			after, _ := refresh(t, later(root, 2*time.Minute), before)
			if changed := key(before) != key(after); changed != c.rebuild {
				t.Fatalf("key changed: %v, want %v", changed, c.rebuild)
			}
			fresh, _ := refresh(t, later(root, 2*time.Minute), nil)
			if key(fresh) != key(after) {
				t.Fatalf("the refreshed index differs from a fresh walk:\n%s\nfresh:\n%s", after.marshal(), fresh.marshal())
			}
		})
	}
}

// A call whose sources did not change reads no file and walks no folder;
// a touched file is read again (and found unchanged); a new file makes it
// walk its folder again.
func TestRefreshReadsOnlyWhatChanged(t *testing.T) {
	root := tree(t)
	ix, stats := refresh(t, later(root, time.Minute), nil)
	// 3 Go files, go.mod, go.sum, and third_party/lib's go.mod, lib.go and
	// data/schema (not its test, nor README.md).
	if !stats.walked || stats.hashed != 8 {
		t.Fatalf("first index: %+v, want a walk and 8 files hashed", stats)
	}
	again, stats := refresh(t, later(root, 2*time.Minute), ix)
	if again != ix || stats.walked || stats.hashed != 0 {
		t.Fatalf("nothing changed, yet: %+v", stats)
	}
	now := time.Now()
	os.Chtimes(filepath.Join(root, "internal/stack/stack.go"), now, now)
	touched, stats := refresh(t, later(root, 2*time.Minute), ix)
	if stats.walked || stats.hashed != 1 || key(touched) != key(ix) {
		t.Fatalf("after a touch: %+v, key changed %v; want 1 file read, the same key", stats, key(touched) != key(ix))
	}
	write(t, root, "internal/stack/more.go", "package stack\n")
	_, stats = refresh(t, later(root, 3*time.Minute), touched)
	if !stats.walked || stats.hashed != 1 {
		t.Fatalf("after a file was added: %+v, want a walk and 1 file read", stats)
	}
}

// A file changed without a change of its stat (same size, and a clock that
// did not tick between the two writes: a coarse file system clock, which
// this machine's ext4 with fine-grained timestamps cannot show, hence the
// stand-in stat) is read again while its index is too close to the write
// to trust it, and the change is found.
func TestRacyFileIsReadAgain(t *testing.T) {
	root := tree(t)
	s := newScanner(root)
	ix, _ := refresh(t, s, nil) // right after the writes: every entry is racy
	var recorded fingerprint
	for _, e := range ix.entries {
		if e.rel == "internal/stack/stack.go" {
			recorded = e.fp
		}
	}
	write(t, root, "internal/stack/stack.go", "package stuck\n") // same size
	realStat := s.lstat
	s.lstat = func(path string) (fingerprint, error) {
		if strings.HasSuffix(path, "/internal/stack/stack.go") {
			return recorded, nil // the clock did not tick
		}
		return realStat(path)
	}
	after, stats := refresh(t, s, ix)
	if key(after) == key(ix) {
		t.Fatalf("a same-stat change right after indexing was missed (%+v)", stats)
	}
	// The same, with the index taken well after the file was written: its
	// stat is trusted (a later write would change it), nothing is read.
	write(t, root, "internal/stack/stack.go", "package stack\n")
	trusting := later(root, time.Minute)
	ix, _ = refresh(t, trusting, nil)
	for _, e := range ix.entries {
		if e.rel == "internal/stack/stack.go" {
			recorded = e.fp
		}
	}
	write(t, root, "internal/stack/stack.go", "package stuck\n")
	trusting.lstat = s.lstat
	_, stats = refresh(t, trusting, ix)
	if stats.hashed != 0 {
		t.Fatalf("an entry older than the racy window was read again: %+v", stats)
	}
}

func TestIndexRoundTrip(t *testing.T) {
	root := tree(t)
	write(t, root, "internal/a b/with space.go", "package ab\n")
	ix, _ := refresh(t, newScanner(root), nil)
	ix.tool = toolchain{fingerprint: "abc", settings: []string{"GOVERSION=go1.26.8", "CGO_CFLAGS=-O2 -g", "GOEXPERIMENT="}}
	got, err := parseIndex(ix.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if string(got.marshal()) != string(ix.marshal()) {
		t.Fatalf("round trip:\n%s\nwant:\n%s", got.marshal(), ix.marshal())
	}
	data := string(ix.marshal())
	for name, damaged := range map[string]string{
		"empty":           "",
		"another version": strings.Replace(data, indexVersion, "dtx index 0", 1),
		"garbage first":   "x" + data,
		"a bad number":    strings.Replace(data, "\nd ", "\nd x", 1),
		"a bad hash":      strings.Replace(data, "\nf ", "\nf 1 2 3 4 5 zz path\nf ", 1),
	} {
		if _, err := parseIndex([]byte(damaged)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	path := indexPath(t.TempDir(), root)
	if err := writeIndex(path, ix); err != nil {
		t.Fatal(err)
	}
	if readIndex(path, root) == nil || readIndex(path, root+"x") != nil {
		t.Fatal("readIndex: the index of root is not found, or another root's is taken")
	}
}

// The key of the tool covers every setting of the toolchain.
func TestToolKeyCoversTheToolchain(t *testing.T) {
	files := []fileSum{{rel: "go.mod"}}
	base := toolchain{settings: make([]string, len(goSettings))}
	for i, name := range goSettings {
		base.settings[i] = name + "=x"
	}
	seen := map[string]string{toolKey(base, files): "base"}
	for i, name := range goSettings {
		tc := toolchain{settings: slices.Clone(base.settings)}
		tc.settings[i] = name + "=y"
		k := toolKey(tc, files)
		if other, ok := seen[k]; ok {
			t.Errorf("%s changed, the key is that of %s", name, other)
		}
		seen[k] = name
	}
}

// The fingerprint that decides whether go env must be asked again changes
// with each variable it depends on, the go binary and the go env file.
func TestToolchainFingerprint(t *testing.T) {
	root := tree(t)
	ix, _ := refresh(t, newScanner(root), nil)
	goBin := filepath.Join(t.TempDir(), "go")
	write(t, filepath.Dir(goBin), "go", "#!/bin/sh\n")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	tc := toolchain{settings: []string{"GOROOT=" + t.TempDir(), "CC=cc"}}
	base := toolchainFingerprint(goBin, ix, tc)
	if toolchainFingerprint(goBin, ix, tc) != base {
		t.Fatal("the fingerprint is not stable")
	}
	for _, name := range answerEnv {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "changed")
			if toolchainFingerprint(goBin, ix, tc) == base {
				t.Errorf("%s changed, the fingerprint did not", name)
			}
		})
	}
	t.Run("the go binary", func(t *testing.T) {
		write(t, filepath.Dir(goBin), "go", "#!/bin/sh\n# a new Go\n")
		if toolchainFingerprint(goBin, ix, tc) == base {
			t.Error("the go binary changed, the fingerprint did not")
		}
	})
	t.Run("go env -w", func(t *testing.T) {
		write(t, os.Getenv("XDG_CONFIG_HOME"), "go/env", "GOFLAGS=-tags=x\n")
		if toolchainFingerprint(goBin, ix, tc) == base {
			t.Error("the go env file changed, the fingerprint did not")
		}
	})
	t.Run("GOROOT's VERSION", func(t *testing.T) {
		write(t, tc.get("GOROOT"), "VERSION", "go1.26.9\n")
		if toolchainFingerprint(goBin, ix, tc) == base {
			t.Error("GOROOT/VERSION changed, the fingerprint did not")
		}
	})
}

// The cache folder must be the user's own, writable by nobody else.
func TestCheckCacheDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := checkCacheDir(dir); err != nil {
		t.Fatalf("mode 0700: %v", err)
	}
	for _, mode := range []os.FileMode{0o777, 0o775, 0o757} {
		os.Chmod(dir, mode)
		err := checkCacheDir(dir)
		if err == nil || !strings.Contains(err.Error(), "chmod go-w "+dir) {
			t.Errorf("mode %04o: %v, want an error saying chmod go-w", mode, err)
		}
	}
	os.Chmod(dir, 0o755)
	if err := checkCacheDir(dir); err != nil {
		t.Fatalf("mode 0755: %v", err)
	}
	if os.Geteuid() == 0 {
		os.Chown(dir, 65534, 65534)
		if err := checkCacheDir(dir); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("another user's folder: %v", err)
		}
	}
}

// Every non-test Go file of the launcher is embedded: it compares them with
// the checkout's to know it is the launcher of that source. cmd/dtx embeds
// its main.go, which must stay its only file.
func TestEmbedsItsWholeSource(t *testing.T) {
	sources := func(dir, rel string) []string {
		list, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range list {
			if isSource(rel, d.Name()) {
				names = append(names, d.Name())
			}
		}
		return names
	}
	if got := sources("../../cmd/dtx", "cmd/dtx"); !slices.Equal(got, []string{"main.go"}) {
		t.Fatalf("cmd/dtx holds %v: keep main.go alone there (it embeds itself) and the launcher's code in internal/launcher", got)
	}
	onDisk := sources(".", "internal/launcher")
	var embedded []string
	for _, f := range ownSource() {
		if name, ok := strings.CutPrefix(f.rel, "internal/launcher/"); ok {
			embedded = append(embedded, name)
		}
	}
	if !slices.Equal(onDisk, embedded) {
		t.Fatalf("embedded %v, internal/launcher has %v: name every file on the go:embed line of launcher.go", embedded, onDisk)
	}
}

// The launcher refuses a folder that is not the project's checkout.
func TestRunNeedsTheProject(t *testing.T) {
	root := t.TempDir()
	write(t, root, "main.go", "package main\n")
	l, err := newLauncher(root, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.run(nil); err == nil || !strings.Contains(err.Error(), "has no go.mod or magefiles/") {
		t.Fatalf("error %v", err)
	}
}

// The file go tool mage writes beside the magefiles while it compiles is
// never a source: a developer's own `go tool mage` run must not make ./dtx
// build it in.
func TestMageOutputFileIsNoSource(t *testing.T) {
	if isSource("magefiles", "mage_output_file.go") {
		t.Fatal("magefiles/mage_output_file.go counts as a source")
	}
	if !isSource("magefiles", "magefile.go") {
		t.Fatal("magefiles/magefile.go does not count as a source")
	}
}
