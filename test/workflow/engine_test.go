package workflow

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// .ci/engine.sh refuses a state folder (DTX_ENGINE_DIR) it does not own,
// or one that is a symbolic link, before it writes anything there: CI
// sources its env.sh, so under /tmp another user must not be able to make
// it first. Its own folder is made owner-only.
func TestEngineStateFolderIsTheUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a folder to another user needs root")
	}
	run := func(dir string) (string, error) {
		cmd := exec.Command("bash", filepath.Join(repoRoot, ".ci/engine.sh"), "down")
		cmd.Env = append(os.Environ(), "DTX_ENGINE_DIR="+dir, "DTX_CACHE="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	tmp := t.TempDir()

	foreign := filepath.Join(tmp, "foreign")
	if err := os.Mkdir(foreign, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(foreign, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	out, err := run(foreign)
	if err == nil || !strings.Contains(out, foreign+" belongs to user 65534, not to you") {
		t.Errorf("a state folder of another user: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(foreign); len(entries) != 0 {
		t.Errorf("it wrote into the other user's folder: %v", entries)
	}

	link := filepath.Join(tmp, "link")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	if out, err := run(link); err == nil || !strings.Contains(out, link+" is a symbolic link") {
		t.Errorf("a state folder that is a link: %v\n%s", err, out)
	}

	own := filepath.Join(tmp, "own")
	if out, err := run(own); err != nil {
		t.Fatalf("a new state folder: %v\n%s", err, out)
	}
	if info, err := os.Stat(own); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("a new state folder: %v, mode %v, want 0700", err, info.Mode().Perm())
	}
}
