package session

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/compose"
)

// The data folder, and what an earlier root-run redis wrote in it, become the
// user's that redis runs as in the hardened stacks (as root: directly).
func TestGiveFolderMakesTheDataTheServicesUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown (CI runs as root)")
	}
	root := t.TempDir()
	writeFile(t, root, "backend/.redis_data/appendonlydir/appendonly.aof.1.base.rdb", "REDIS")
	var log bytes.Buffer
	s := &Stack{Session: New(Config{Root: root, Stderr: &log})}
	if err := s.giveFolder(context.Background(), compose.Owner{Dir: "backend/.redis_data", UID: 999, GID: 998, Service: "redis"}); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(filepath.Join(root, "backend/.redis_data"), func(path string, d fs.DirEntry, err error) error {
		info, _ := d.Info()
		if st := info.Sys().(*syscall.Stat_t); st.Uid != 999 || st.Gid != 998 {
			t.Errorf("%s is %d:%d, want 999:998", path, st.Uid, st.Gid)
		}
		return nil
	})
	if !strings.Contains(log.String(), "made backend/.redis_data 999:998's, the user redis runs as") {
		t.Errorf("not said: %q", log.String())
	}
}

func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A data folder that is a link is refused before anything is made or
// given away.
func TestDataFolderLinkRefused(t *testing.T) {
	root := t.TempDir()
	elsewhere := t.TempDir()
	writeFile(t, root, "docker-compose.prod.yaml", "services:\n  redis:\n    image: redis\n    user: \"999:999\"\n    volumes: [\"./backend/.redis_data:/data\"]\n")
	writeFile(t, root, "docker/.env.prod", "DOMAIN=example.com\n")
	os.MkdirAll(filepath.Join(root, "backend"), 0o755)
	if err := os.Symlink(elsewhere, filepath.Join(root, "backend/.redis_data")); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	st, err := New(Config{Root: root, Stderr: &log}).Open("prod")
	if err != nil {
		t.Fatal(err)
	}
	err = st.Prepare(context.Background())
	if err == nil || !strings.Contains(err.Error(), "backend/.redis_data is a symbolic link") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "nginx")); err == nil {
		t.Error("folders were made despite the refusal")
	}
}
