package main

import (
	"os"
	"path/filepath"
	"testing"
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

// The build's hash changes with every file the binary is built from, and
// only with those.
func TestHashFollowsTheSources(t *testing.T) {
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
		{"a Go file removed", func(t *testing.T, root string) { os.Remove(filepath.Join(root, "internal/stack/stack.go")) }, true},
		{"a file renamed", func(t *testing.T, root string) {
			os.Rename(filepath.Join(root, "internal/stack/stack.go"), filepath.Join(root, "internal/stack/data.go"))
		}, true},
		{"go.mod edited", func(t *testing.T, root string) { write(t, root, "go.mod", "module example.com/x\n\ngo 1.26\n") }, true},
		{"go.sum edited", func(t *testing.T, root string) { write(t, root, "go.sum", "example.com/y v1.0.0 h1:x\n") }, true},
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
		{"an unreadable data folder", func(t *testing.T, root string) {
			write(t, root, "nginx/data/ssl/key.pem", "secret\n")
			os.Chmod(filepath.Join(root, "nginx/data/ssl"), 0)
			t.Cleanup(func() { os.Chmod(filepath.Join(root, "nginx/data/ssl"), 0o755) })
		}, false},
	}
	tree := func(t *testing.T) string {
		root := t.TempDir()
		write(t, root, "go.mod", "module example.com/x\n")
		write(t, root, "go.sum", "")
		write(t, root, "magefiles/magefile.go", "package main\n")
		write(t, root, "internal/targets/targets.go", "package targets\n")
		write(t, root, "internal/stack/stack.go", "package stack\n")
		write(t, root, "internal/stack/stack_test.go", "package stack\n")
		write(t, root, "README.md", "read me\n")
		return root
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := tree(t)
			before, err := sources(root)
			if err != nil {
				t.Fatal(err)
			}
			c.change(t, root)
			after, err := sources(root)
			if err != nil {
				t.Fatal(err)
			}
			if changed := hash(before) != hash(after); changed != c.rebuild {
				t.Fatalf("hash changed: %v, want %v", changed, c.rebuild)
			}
		})
	}
}

// The launcher refuses a folder that is not the project's checkout.
func TestEnsureNeedsTheProject(t *testing.T) {
	root := t.TempDir()
	write(t, root, "main.go", "package main\n")
	if _, err := ensure(root, t.TempDir()); err == nil {
		t.Fatal("no error")
	}
}
