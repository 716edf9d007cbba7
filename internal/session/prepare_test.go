package session

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
