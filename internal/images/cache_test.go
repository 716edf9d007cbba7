package images

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// copyComposeFiles copies the project's compose files and env files (what
// Catalogue reads) into a new root.
func copyComposeFiles(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, e := range stack.Environments {
		for _, rel := range []string{e.ComposeFile, e.EnvFile} {
			writeFile(t, filepath.Join(root, rel), mustRead(t, filepath.Join(repoRoot, rel)))
		}
	}
	return root
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCatalogueCache: a second call with nothing changed is answered from
// the cache file (0600), the same images; a change to a compose file, an
// env file or the process environment is seen at once; nothing is cached
// for files that bring in others, nor an answer that holds a secret.
func TestCatalogueCache(t *testing.T) {
	root, cacheDir := copyComposeFiles(t), t.TempDir()
	environ := []string{"REGISTRY=127.0.0.1:5000/dtx"}
	load := func(environ ...string) []Image {
		t.Helper()
		ses := session.New(session.Config{Root: root, Environ: environ, CacheDir: cacheDir})
		rel, err := ses.Quiet().Open("release")
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := Catalogue(context.Background(), ses, rel.Env)
		if err != nil {
			t.Fatal(err)
		}
		return imgs
	}
	kept := func() []string {
		files, _ := filepath.Glob(filepath.Join(cacheDir, cachePrefix(root)+"*.json"))
		return files
	}
	removeKept := func() {
		for _, f := range kept() {
			os.Remove(f)
		}
	}

	first := load(environ...)
	if len(kept()) != 1 {
		t.Fatalf("after the first call %d cache files, want 1", len(kept()))
	}
	cacheFile := kept()[0]
	fi, err := os.Stat(cacheFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, want 0600", fi.Mode().Perm())
	}
	// The same answer, as far as any use of it can tell: the same
	// definition of the build, the same Dockerfiles, the same places.
	second := load(environ...)
	p1, p2 := Plan{Images: first, Registry: "r", Version: "1.0.0"}, Plan{Images: second, Registry: "r", Version: "1.0.0"}
	if string(p1.Definition(root, nil)) != string(p2.Definition(root, nil)) {
		t.Fatalf("the cached answer builds otherwise:\n%s\n%s", p1.Definition(root, nil), p2.Definition(root, nil))
	}
	for i := range first {
		if first[i].Where() != second[i].Where() || first[i].Dockerfile(root) != second[i].Dockerfile(root) || first[i].Name != second[i].Name {
			t.Errorf("image %d: %s %s, cached %s %s", i, first[i].Where(), first[i].Dockerfile(root), second[i].Where(), second[i].Dockerfile(root))
		}
	}

	// The second call read the file: an answer planted under the same key
	// is what it returns.
	var cached cachedCatalogue
	b, _ := os.ReadFile(cacheFile)
	if err := json.Unmarshal(b, &cached); err != nil {
		t.Fatal(err)
	}
	cached.Images = cached.Images[:1]
	b, _ = json.Marshal(cached)
	if err := os.WriteFile(cacheFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := load(environ...); len(got) != 1 {
		t.Fatalf("the cache file was not read: %d images", len(got))
	}

	// Any input changed: the compose files are loaded again.
	if got := load("REGISTRY=127.0.0.1:5000/other"); len(got) != len(first) {
		t.Errorf("a new REGISTRY in the environment: %d images, want %d", len(got), len(first))
	}
	// The first environment's answer is kept beside the new one's: back
	// to it, the planted answer is read again.
	if got := load(environ...); len(got) != 1 || len(kept()) != 2 {
		t.Errorf("back to the first environment: %d images, %d files; want its kept answer (1 image), 2 files", len(got), len(kept()))
	}
	prod := filepath.Join(root, "docker-compose.prod.yaml")
	text, _ := os.ReadFile(prod)
	writeFile(t, prod, strings.Replace(string(text), "target: runtime\n", "target: runtime-changed\n", 1))
	changed := false
	for _, img := range load(environ...) {
		changed = changed || img.Build.Target == "runtime-changed"
	}
	if !changed {
		t.Errorf("a compose file's change was not seen")
	}
	env := filepath.Join(root, "docker/.env.release")
	text, _ = os.ReadFile(env)
	writeFile(t, env, string(text)+"\nBACKEND_BASE_IMAGE=base:from-env-file\n")
	seen := false
	for _, img := range load(environ...) {
		if v := img.Build.Args["BACKEND_BASE_IMAGE"]; v != nil && *v == "base:from-env-file" {
			seen = true
		}
	}
	if !seen {
		t.Errorf("an env file's change was not seen")
	}

	// A checkout keeps its last keptAnswers answers, the newest among them.
	for i := range 6 {
		load(fmt.Sprintf("REGISTRY=127.0.0.1:5000/r%d", i))
	}
	if files := kept(); len(files) != keptAnswers {
		t.Errorf("after 6 more environments %d answers kept, want %d", len(files), keptAnswers)
	}
	newest := func() os.FileInfo {
		var last os.FileInfo
		for _, f := range kept() {
			if fi, err := os.Stat(f); err == nil && (last == nil || fi.ModTime().After(last.ModTime())) {
				last = fi
			}
		}
		return last
	}
	r5 := newest()
	load("REGISTRY=127.0.0.1:5000/r5")
	if again := newest(); r5 == nil || again == nil || !os.SameFile(r5, again) {
		t.Errorf("the last environment's answer was not kept and read again")
	}

	// A secret (a .local value) in a build argument: answered, never written.
	removeKept()
	writeFile(t, filepath.Join(root, "docker/.env.release.local"), "BACKEND_BASE_IMAGE=registry.example/base-tr0ub4dor-3:x\n")
	load(environ...)
	if files := kept(); len(files) != 0 {
		b, _ := os.ReadFile(files[0])
		t.Errorf("an answer holding a secret was cached (%d bytes)", len(b))
	}
	os.Remove(filepath.Join(root, "docker/.env.release.local"))

	// A compose file that can bring in others is always loaded.
	writeFile(t, prod, "# a service here may one day use extends\n"+mustRead(t, prod))
	load(environ...)
	if len(kept()) != 0 {
		t.Errorf("a catalogue of files with extends was cached")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
