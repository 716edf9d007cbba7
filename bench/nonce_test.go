package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/images"
	"github.com/kettleofketchup/dtx_website/internal/testsite"
)

// The file a cold build's nonce goes into is the first one each
// Dockerfile copies from its context that takes a comment: the starters'
// apps, and for the website's bot (built from the repository root, its
// first COPY from another context, its second a file without an
// extension) its script.
func TestNonceFile(t *testing.T) {
	root, _ := filepath.Abs("..")
	for ctx, want := range map[string]string{"frontend": "frontend/server.mjs", "backend": "backend/server.py", "nginx": "nginx/nginx.conf"} {
		img := images.Image{Name: ctx, Build: types.BuildConfig{Context: filepath.Join(root, ctx)}}
		got, comment, err := nonceFile(root, img)
		if err != nil || got != filepath.Join(root, want) || comment == "" {
			t.Errorf("%s: %s %q %v, want %s", ctx, got, comment, err, want)
		}
	}
	site := &testsite.Site{Root: t.TempDir()}
	for _, f := range []string{"docker-compose.prod.yaml", "docker-compose.release.yaml"} {
		if err := os.WriteFile(filepath.Join(site.Root, f), []byte("x-hardened: &hardened {}\nservices:\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := site.AddBot(); err != nil {
		t.Fatal(err)
	}
	bot := images.Image{Name: "bot", Build: types.BuildConfig{Context: site.Root, Dockerfile: "bot/Dockerfile"}}
	if got, comment, err := nonceFile(site.Root, bot); err != nil || got != filepath.Join(site.Root, "bot/bot.py") || comment != "# " {
		t.Errorf("bot: %s %q %v, want bot/bot.py", got, comment, err)
	}
}
