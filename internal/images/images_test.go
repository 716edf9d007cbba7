package images

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/stack"
)

func plan(t *testing.T, only string) Plan {
	imgs, err := stack.SelectImages(only)
	if err != nil {
		t.Fatal(err)
	}
	return Plan{Images: imgs, Registry: "127.0.0.1:5000/dtx", Version: "1.2.3", BuildArgs: map[string]string{"NGINX_BASE_IMAGE": "base:$x"}}
}

func TestDefinitionBuildsEveryImageWithBothTags(t *testing.T) {
	var def struct {
		Name     string
		Services map[string]service
	}
	if err := json.Unmarshal(plan(t, "").Definition(), &def); err != nil {
		t.Fatal(err)
	}
	inline := []string{"type=inline"}
	want := map[string]service{
		"frontend":     {Image: "127.0.0.1:5000/dtx/frontend:1.2.3", Build: build{Context: "frontend", Dockerfile: "Dockerfile", Target: "runtime", Tags: []string{"127.0.0.1:5000/dtx/frontend:latest"}, CacheTo: inline}},
		"frontend-dev": {Image: "127.0.0.1:5000/dtx/frontend-dev:1.2.3", Build: build{Context: "frontend", Dockerfile: "Dockerfile", Target: "runtime-dev", Tags: []string{"127.0.0.1:5000/dtx/frontend-dev:latest"}, CacheTo: inline}},
		"backend":      {Image: "127.0.0.1:5000/dtx/backend:1.2.3", Build: build{Context: "backend", Dockerfile: "Dockerfile", Target: "runtime", Tags: []string{"127.0.0.1:5000/dtx/backend:latest"}, CacheTo: inline}},
		"backend-dev":  {Image: "127.0.0.1:5000/dtx/backend-dev:1.2.3", Build: build{Context: "backend", Dockerfile: "Dockerfile", Target: "runtime-dev", Tags: []string{"127.0.0.1:5000/dtx/backend-dev:latest"}, CacheTo: inline}},
		"nginx":        {Image: "127.0.0.1:5000/dtx/nginx:1.2.3", Build: build{Context: "nginx", Dockerfile: "Dockerfile", Tags: []string{"127.0.0.1:5000/dtx/nginx:latest"}, Args: map[string]string{"NGINX_BASE_IMAGE": "base:$$x"}, CacheTo: inline}},
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
			if !bytes.Equal(stdin, p.Definition()) || cmd.Dir != "/srv/site" {
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
		{Image: stack.Images[0], Tags: []string{"1.2.3", "latest"}, Size: size, Created: created},
		{Image: stack.Images[4], Tags: []string{"1.2.3", "latest"}, Size: 999, Created: start.Add(-time.Hour)},
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
	if err := json.Unmarshal(p.Definition(), &def); err != nil {
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
			if err := json.Unmarshal(p.Definition(), &def); err != nil {
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
