package images

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// repoRoot is the project: its compose files declare the images.
var repoRoot, _ = filepath.Abs("../..")

// catalogue is the images the project's compose files build, read as the
// tool reads them, with environ as the process environment.
func catalogue(t *testing.T, environ ...string) []Image {
	t.Helper()
	imgs, err := Catalogue(context.Background(), session.New(session.Config{Root: repoRoot, Environ: environ}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return imgs
}

func plan(t *testing.T, only string) Plan {
	t.Helper()
	imgs, err := Select(catalogue(t, "REGISTRY=127.0.0.1:5000/dtx", "NGINX_BASE_IMAGE=base:x"), only)
	if err != nil {
		t.Fatal(err)
	}
	return Plan{Images: imgs, Registry: "127.0.0.1:5000/dtx", Version: "1.2.3"}
}

// service and build are the parts of a definition the tests read.
type service struct {
	Image string `json:"image"`
	Build build  `json:"build"`
}

type build struct {
	Context            string            `json:"context"`
	Dockerfile         string            `json:"dockerfile"`
	Target             string            `json:"target,omitempty"`
	Tags               []string          `json:"tags,omitempty"`
	Args               map[string]string `json:"args,omitempty"`
	AdditionalContexts map[string]string `json:"additional_contexts,omitempty"`
	CacheFrom          []string          `json:"cache_from,omitempty"`
	CacheTo            []string          `json:"cache_to,omitempty"`
}

// The images are those the compose files declare, each with its build
// section as compose resolved it, under both tags.
func TestDefinitionBuildsEveryImageWithBothTags(t *testing.T) {
	var def struct {
		Name     string
		Services map[string]service
	}
	if err := json.Unmarshal(plan(t, "").Definition(repoRoot, nil), &def); err != nil {
		t.Fatal(err)
	}
	inline := []string{"type=inline"}
	want := map[string]service{
		"frontend":     {Image: "127.0.0.1:5000/dtx/frontend:1.2.3", Build: build{Context: "frontend", Dockerfile: "Dockerfile", Target: "runtime", Tags: []string{"127.0.0.1:5000/dtx/frontend:latest"}, CacheTo: inline}},
		"frontend-dev": {Image: "127.0.0.1:5000/dtx/frontend-dev:1.2.3", Build: build{Context: "frontend", Dockerfile: "Dockerfile", Target: "runtime-dev", Tags: []string{"127.0.0.1:5000/dtx/frontend-dev:latest"}, CacheTo: inline}},
		"backend":      {Image: "127.0.0.1:5000/dtx/backend:1.2.3", Build: build{Context: "backend", Dockerfile: "Dockerfile", Target: "runtime", Tags: []string{"127.0.0.1:5000/dtx/backend:latest"}, CacheTo: inline}},
		"backend-dev":  {Image: "127.0.0.1:5000/dtx/backend-dev:1.2.3", Build: build{Context: "backend", Dockerfile: "Dockerfile", Target: "runtime-dev", Tags: []string{"127.0.0.1:5000/dtx/backend-dev:latest"}, CacheTo: inline}},
		"nginx":        {Image: "127.0.0.1:5000/dtx/nginx:1.2.3", Build: build{Context: "nginx", Dockerfile: "Dockerfile", Tags: []string{"127.0.0.1:5000/dtx/nginx:latest"}, Args: map[string]string{"NGINX_BASE_IMAGE": "base:x"}, CacheTo: inline}},
	}
	if def.Name != BuildProject || len(def.Services) != len(want) {
		t.Fatalf("definition %+v", def)
	}
	for name, w := range want {
		got, _ := json.Marshal(def.Services[name])
		exp, _ := json.Marshal(w)
		if string(got) != string(exp) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, exp)
		}
	}
}

// The website's build shapes: a context that is the repository root, a
// second build context, build arguments, a Dockerfile of another name;
// declared in a compose file, carried whole into the definition, paths
// relative to the root.
func TestDefinitionCarriesTheWebsitesBuildShapes(t *testing.T) {
	root := t.TempDir()
	compose := `services:
  backend:
    image: ${REGISTRY}/backend:latest
    build:
      context: .
      dockerfile: backend/Dockerfile
      target: runtime
      args: {APP_VERSION: "2.0", UNSET_ARG: null}
  frontend:
    image: ${REGISTRY}/frontend:latest
    build:
      context: frontend
      dockerfile: Dockerfile.prod
      additional_contexts:
        docs: ./docs
        base: docker-image://node:22
`
	for rel, content := range map[string]string{"docker-compose.prod.yaml": compose, "docker/.env.prod": "DOMAIN=example.com\n"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755)
		os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644)
	}
	s := session.New(session.Config{Root: root, Environ: []string{"REGISTRY=r.example/site"}})
	st, err := s.Open("prod")
	if err != nil {
		t.Fatal(err)
	}
	model, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := Declared([]Loaded{{File: "docker-compose.prod.yaml", Model: model, Registry: "r.example/site"}})
	if err != nil {
		t.Fatal(err)
	}
	p := Plan{Images: imgs, Registry: "r.example/site", Version: "2.0.0"}
	var def struct{ Services map[string]service }
	if err := json.Unmarshal(p.Definition(root, nil), &def); err != nil {
		t.Fatal(err)
	}
	be, fe := def.Services["backend"].Build, def.Services["frontend"].Build
	if be.Context != "." || be.Dockerfile != "backend/Dockerfile" || be.Target != "runtime" || be.Args["APP_VERSION"] != "2.0" || len(be.Args) != 1 {
		t.Errorf("backend build %+v", be)
	}
	if fe.Context != "frontend" || fe.Dockerfile != "Dockerfile.prod" || fe.AdditionalContexts["docs"] != "docs" || fe.AdditionalContexts["base"] != "docker-image://node:22" {
		t.Errorf("frontend build %+v", fe)
	}
	if got := imgs[0].Dockerfile(root); got != "backend/Dockerfile" {
		t.Errorf("backend's Dockerfile %s", got)
	}
}

func TestBuildCommandIsOneComposeBuildFromStdin(t *testing.T) {
	for _, c := range []struct {
		name string
		bake bool
		want string
	}{
		{"with buildx: compose builds through Bake", true,
			"docker compose --project-name dtx-build --project-directory . -f - build < (build definition of 2 images)"},
		{"without buildx: compose's own BuildKit client, without the Bake warning", false,
			"docker --log-level error compose --project-name dtx-build --project-directory . -f - build < (build definition of 2 images)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := plan(t, "frontend,nginx")
			p.Bake = c.bake
			cmd := p.BuildCommand("/srv/site")
			if got := cmd.String(); got != c.want {
				t.Fatalf("command %s\nwant    %s", got, c.want)
			}
			stdin, _ := io.ReadAll(cmd.Stdin)
			if !bytes.Equal(stdin, p.Definition("/srv/site", nil)) || cmd.Dir != "/srv/site" {
				t.Fatal("the definition must be fed on stdin from the project root")
			}
		})
	}
}

func TestBuildxInstalledLooksWhereDockerLooks(t *testing.T) {
	system := t.TempDir()
	defer func(old []string) { SystemPluginDirs = old }(SystemPluginDirs)
	SystemPluginDirs = []string{system}
	home, config := t.TempDir(), t.TempDir()
	plugin := func(dir string) {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "docker-buildx"), []byte("#!/bin/sh\n"), 0o755)
	}
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	if BuildxInstalled(env(map[string]string{"HOME": home})) {
		t.Fatal("found buildx where there is none")
	}
	plugin(filepath.Join(home, ".docker", "cli-plugins"))
	if !BuildxInstalled(env(map[string]string{"HOME": home})) {
		t.Error("missed ~/.docker/cli-plugins/docker-buildx")
	}
	if BuildxInstalled(env(map[string]string{"HOME": home, "DOCKER_CONFIG": config})) {
		t.Error("DOCKER_CONFIG replaces ~/.docker: the plugin under HOME does not count then")
	}
	plugin(system)
	if !BuildxInstalled(env(map[string]string{"DOCKER_CONFIG": config})) {
		t.Error("missed the system plugin folder")
	}
}

func TestPushAndPullEveryTag(t *testing.T) {
	p := plan(t, "backend")
	var got []string
	for _, c := range append(p.PushCommands(), p.PullCommands()...) {
		got = append(got, c.String())
	}
	want := "docker push 127.0.0.1:5000/dtx/backend:1.2.3|docker push 127.0.0.1:5000/dtx/backend:latest|docker pull 127.0.0.1:5000/dtx/backend:1.2.3|docker pull 127.0.0.1:5000/dtx/backend:latest"
	if strings.Join(got, "|") != want {
		t.Fatalf("got %v", got)
	}
}

func TestSummary(t *testing.T) {
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	size, created, err := ParseInspect("12345678 2026-01-01T10:00:01.234Z\n")
	if err != nil {
		t.Fatal(err)
	}
	rows := []Built{
		{Image: Image{Name: "frontend"}, Tags: []string{"1.2.3", "latest"}, Size: size, Created: created},
		{Image: Image{Name: "nginx"}, Tags: []string{"1.2.3", "latest"}, Size: 999, Created: start.Add(-time.Hour)},
	}
	var out bytes.Buffer
	WriteSummary(&out, rows, start, 1500*time.Millisecond)
	want := "IMAGE     TAGS           SIZE    BUILT\nfrontend  1.2.3, latest  12.3MB  1.2s\nnginx     1.2.3, latest  999B    cached\nbuilt 2 images in 1.5s\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// A development build (no VERSION) tags latest only.
func TestDevelopmentBuildTagsLatestOnly(t *testing.T) {
	p := plan(t, "frontend-dev")
	p.Version = ""
	var def struct{ Services map[string]service }
	if err := json.Unmarshal(p.Definition(repoRoot, nil), &def); err != nil {
		t.Fatal(err)
	}
	got := def.Services["frontend-dev"]
	if got.Image != "127.0.0.1:5000/dtx/frontend-dev:latest" || len(got.Build.Tags) != 0 {
		t.Fatalf("%+v", got)
	}
	if cmds := p.PushCommands(); len(cmds) != 1 || cmds[0].String() != "docker push 127.0.0.1:5000/dtx/frontend-dev:latest" {
		t.Fatalf("%v", cmds)
	}
}

// Every image carries its cache; CACHE_FROM=registry adds the registry's
// latest image of each as a cache source, and nothing else.
func TestDefinitionCache(t *testing.T) {
	for _, c := range []struct {
		name      string
		cacheFrom bool
		registry  string
		wantFrom  map[string][]string
	}{
		{name: "without CACHE_FROM: inline cache only", registry: "127.0.0.1:5000/dtx",
			wantFrom: map[string][]string{"frontend": nil, "nginx": nil}},
		{name: "CACHE_FROM=registry: each image's latest in the registry", cacheFrom: true, registry: "ghcr.io/o/site/",
			wantFrom: map[string][]string{"frontend": {"ghcr.io/o/site/frontend:latest"}, "nginx": {"ghcr.io/o/site/nginx:latest"}}},
		{name: "a $ in the registry is escaped for compose", cacheFrom: true, registry: "reg/a$b",
			wantFrom: map[string][]string{"frontend": {"reg/a$$b/frontend:latest"}, "nginx": {"reg/a$$b/nginx:latest"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := plan(t, "frontend,nginx")
			p.Registry, p.CacheFrom = c.registry, c.cacheFrom
			var def struct{ Services map[string]service }
			if err := json.Unmarshal(p.Definition(repoRoot, nil), &def); err != nil {
				t.Fatal(err)
			}
			for name, from := range c.wantFrom {
				got := def.Services[name].Build
				if strings.Join(got.CacheTo, "|") != "type=inline" {
					t.Errorf("%s: cache_to %q, want [type=inline]", name, got.CacheTo)
				}
				if strings.Join(got.CacheFrom, "|") != strings.Join(from, "|") {
					t.Errorf("%s: cache_from %q, want %q", name, got.CacheFrom, from)
				}
			}
		})
	}
}

func TestSelectAndInRefs(t *testing.T) {
	all := catalogue(t, "REGISTRY=r.example/p")
	imgs, err := Select(all, " nginx, frontend ")
	if err != nil || len(imgs) != 2 || imgs[0].Name != "frontend" || imgs[1].Name != "nginx" {
		t.Fatalf("%v %v", Names(imgs), err)
	}
	if _, err := Select(all, "frontend,web"); err == nil || !strings.Contains(err.Error(), `unknown image "web": use one or more of backend,backend-dev,frontend,frontend-dev,nginx`) {
		t.Fatal(err)
	}
	if _, err := Select(all, "nginx,"+strings.Repeat("x", 100_000)); err == nil || len(err.Error()) > 300 {
		t.Fatalf("a long name is not clipped: %.200v", err)
	}
	if _, err := Select(all, " , "); err == nil || !strings.Contains(err.Error(), "names no image") {
		t.Fatal(err)
	}
	used := InRefs(all, "r.example/p", []string{"r.example/p/nginx:1.0.0", "redis:8.2.1-alpine", "r.example/p/backend-dev:latest", "other/p/frontend:latest"})
	if got := strings.Join(Names(used), ","); got != "backend-dev,nginx" {
		t.Fatalf("used %s", got)
	}
	if got := all[0].Ref("r.example/p/", "1.0.0"); got != "r.example/p/backend:1.0.0" {
		t.Fatal(got)
	}
}

// An image built two ways, or outside REGISTRY, is refused with one line
// naming where it is declared.
func TestDeclaredRefusals(t *testing.T) {
	load := func(compose string) *types.Project {
		root := t.TempDir()
		os.WriteFile(filepath.Join(root, "compose.yaml"), []byte(compose), 0o644)
		opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "compose.yaml")}, cli.WithName("t"), cli.WithWorkingDirectory(root), cli.WithInterpolation(true))
		if err != nil {
			t.Fatal(err)
		}
		p, err := opts.LoadProject(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := load("services:\n  web:\n    image: r.example/p/web:latest\n    build: {context: ., target: one}\n")
	b := load("services:\n  web2:\n    image: r.example/p/web:1\n    build: {context: ., target: two}\n")
	_, err := Declared([]Loaded{{File: "a.yaml", Model: a, Registry: "r.example/p"}, {File: "b.yaml", Model: b, Registry: "r.example/p"}})
	if err == nil || !strings.Contains(err.Error(), "image web is built two ways: by service web of a.yaml and by service web2 of b.yaml") {
		t.Errorf("err = %v", err)
	}
	c := load("services:\n  web:\n    image: docker.io/me/web:latest\n    build: .\n")
	_, err = Declared([]Loaded{{File: "c.yaml", Model: c, Registry: "r.example/p"}})
	if err == nil || !strings.Contains(err.Error(), "c.yaml: service web builds docker.io/me/web:latest, which is not under REGISTRY (r.example/p)") {
		t.Errorf("err = %v", err)
	}
}
