package testsite

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// gitRepo makes a git repository holding files (path -> content), all
// committed, then applies the working-tree changes of change.
func gitRepo(t *testing.T, files map[string]string, change func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		write(t, dir, rel, content)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-q", "-m", "t"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	change(dir)
	return dir
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The site holds what a fresh clone with the working tree's changes would:
// tracked files as they are now, new files, not ignored or deleted ones;
// the launcher stays executable.
func TestMakeCopiesTheProjectAsGitHasIt(t *testing.T) {
	repo := gitRepo(t, map[string]string{
		"dtx": "#!/bin/sh\n", "go.mod": "module x\n", ".gitignore": "*.local\n",
		"docker/.env.prod": "A=1\n", "gone.txt": "x\n",
	}, func(dir string) {
		write(t, dir, "docker/.env.prod", "A=2\n")
		write(t, dir, "new.txt", "new\n")
		write(t, dir, "docker/.env.prod.local", "SECRET=s\n")
		os.Chmod(filepath.Join(dir, "dtx"), 0o755)
		os.Remove(filepath.Join(dir, "gone.txt"))
	})
	root := filepath.Join(t.TempDir(), "site")
	s, err := Make(repo, root, "dtxunit1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			got = append(got, rel)
		}
		return nil
	})
	if want := []string{".gitignore", "docker/.env.prod", "dtx", "go.mod", "new.txt"}; !slices.Equal(got, want) {
		t.Errorf("the site holds %q, want %q", got, want)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "docker/.env.prod")); string(data) != "A=2\n" {
		t.Errorf("docker/.env.prod is %q, want the working tree's", data)
	}
	if info, err := os.Stat(filepath.Join(root, "dtx")); err != nil || info.Mode().Perm()&0o111 == 0 {
		t.Errorf("dtx is not executable in the site: %v %v", info, err)
	}
	if s.Vars["COMPOSE_PROJECT_PREFIX"] != "dtxunit1" || !strings.HasSuffix(s.Vars["REGISTRY"], "/dtxunit1") ||
		s.Vars["PUBLISH_ADDRESS"] != "127.0.0.1" || s.Vars["DOMAIN"] != Domain || !strings.HasSuffix(s.Vars["VERSION"], fmt.Sprintf(".%d", os.Getpid())) {
		t.Errorf("variables %v", s.Vars)
	}
	if env := s.Environ("A=extra"); env[len(env)-1] != "A=extra" {
		t.Errorf("extra does not come last: %v", env[len(env)-3:])
	}
}

// The base images come from the process environment alone, as env.sh
// exports them: every *_BASE_IMAGE and REDIS_IMAGE that is set.
func TestBaseImagesAreTheProcesss(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasSuffix(k, "_BASE_IMAGE") || k == "REDIS_IMAGE" {
			t.Setenv(k, "")
		}
	}
	t.Setenv("FRONTEND_BASE_IMAGE", "base:1")
	t.Setenv("SOMETHING_NEW_BASE_IMAGE", "base:2")
	t.Setenv("REDIS_IMAGE", "redis-stand-in:3")
	t.Setenv("NGINX_IMAGE", "not-a-base")
	got := BaseImages()
	want := map[string]string{"FRONTEND_BASE_IMAGE": "base:1", "SOMETHING_NEW_BASE_IMAGE": "base:2", "REDIS_IMAGE": "redis-stand-in:3"}
	if !maps.Equal(got, want) {
		t.Errorf("BaseImages() = %v, want %v", got, want)
	}
}

// Only <stem><pid> projects whose process is gone are another run's
// leftovers.
func TestOwner(t *testing.T) {
	self := fmt.Sprint(os.Getpid())
	for _, c := range []struct {
		project, prefix string
		alive           bool
	}{
		{"dtxe2e" + self + "-release", "dtxe2e" + self, true},
		{"dtxe2e999999999-debug", "dtxe2e999999999", false},
		{"dtxe2e-debug", "", true},
		{"dtxe2eabc-debug", "", true},
		{"dtx-release", "", true},
		{"", "", true},
	} {
		if prefix, alive := owner(E2E, c.project); prefix != c.prefix || alive != c.alive {
			t.Errorf("owner(%q) = %q, %v; want %q, %v", c.project, prefix, alive, c.prefix, c.alive)
		}
	}
}

func TestFindRepo(t *testing.T) {
	repo := t.TempDir()
	write(t, repo, "dtx", "")
	write(t, repo, "go.mod", "")
	write(t, repo, "test/e2e/x", "")
	if got, err := FindRepo(filepath.Join(repo, "test/e2e")); err != nil || got != repo {
		t.Errorf("FindRepo = %q, %v; want %q", got, err, repo)
	}
	if _, err := FindRepo(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no folder up from it holds dtx and go.mod") {
		t.Errorf("outside a project: %v", err)
	}
}
