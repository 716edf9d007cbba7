package compose

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// repoRoot is the project root: the real compose and env files are tested.
var repoRoot, _ = filepath.Abs("../..")

func environ(env map[string]string) []string {
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	return kv
}

func load(t *testing.T, root, name string, osEnv map[string]string) (Project, error) {
	t.Helper()
	e, err := stack.LookupEnvironment(name)
	if err != nil {
		t.Fatal(err)
	}
	env, err := stack.LoadEnv(root, e, environ(osEnv))
	if err != nil {
		t.Fatal(err)
	}
	p := NewProject(root, env, "")
	_, err = p.Load(context.Background(), environ(osEnv))
	return p, err
}

func TestEveryComposeFileLoadsWithItsEnvFile(t *testing.T) {
	for _, e := range stack.Environments {
		t.Run(e.Name, func(t *testing.T) {
			env, err := stack.LoadEnv(repoRoot, e, environ(nil))
			if err != nil {
				t.Fatal(err)
			}
			p := NewProject(repoRoot, env, "")
			project, err := p.Load(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var services []string
			for name := range project.Services {
				services = append(services, name)
			}
			for _, want := range []string{"frontend", "backend", "redis", "nginx"} {
				if _, ok := project.Services[want]; !ok {
					t.Errorf("%s has no service %s (has %v)", e.ComposeFile, want, services)
				}
			}
			for _, s := range project.Services {
				if s.ContainerName != "" {
					t.Errorf("%s: service %s sets container_name; two stacks could not run side by side", e.ComposeFile, s.Name)
				}
			}
			if got := project.Services["redis"].Image; got != "redis:8.2.1-alpine" {
				t.Errorf("redis image %q", got)
			}
		})
	}
}

func TestMountsPerEnvironment(t *testing.T) {
	mounts := func(name, service string) []string {
		e, _ := stack.LookupEnvironment(name)
		env, _ := stack.LoadEnv(repoRoot, e, environ(nil))
		project, err := NewProject(repoRoot, env, "").Load(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var m []string
		for _, v := range project.Services[service].Volumes {
			src := strings.TrimPrefix(v.Source, repoRoot+"/")
			m = append(m, src+":"+v.Target)
		}
		return m
	}
	contains := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	if m := mounts("debug", "frontend"); !contains(m, "frontend:/app") {
		t.Errorf("debug frontend mounts %v, want the source for hot reload", m)
	}
	if m := mounts("debug", "backend"); !contains(m, "backend:/app/backend") {
		t.Errorf("debug backend mounts %v", m)
	}
	for _, env := range []string{"prod", "release"} {
		if m := mounts(env, "frontend"); len(m) != 0 {
			t.Errorf("%s frontend mounts %v: production mounts no source", env, m)
		}
		// The backend mounts its data folder (the SQLite file), no source.
		if m := mounts(env, "backend"); len(m) != 1 || m[0] != "backend/.data:/app/data" {
			t.Errorf("%s backend mounts %v: production mounts no source, only the data folder", env, m)
		}
		if m := mounts(env, "nginx"); !contains(m, "nginx/data/certbot/conf:/etc/letsencrypt") {
			t.Errorf("%s nginx mounts %v, want the Let's Encrypt folder", env, m)
		}
		if m := mounts(env, "redis"); !contains(m, "backend/.redis_data:/data") {
			t.Errorf("%s redis mounts %v", env, m)
		}
	}
	for _, env := range []string{"debug", "test"} {
		if m := mounts(env, "nginx"); !contains(m, "nginx/data/ssl:/etc/nginx/ssl") || contains(m, "nginx/data/certbot/conf:/etc/letsencrypt") {
			t.Errorf("%s nginx mounts %v, want the development certificates only", env, m)
		}
	}
}

func TestTestStackRunsOnTestNetwork(t *testing.T) {
	e, _ := stack.LookupEnvironment("test")
	env, _ := stack.LoadEnv(repoRoot, e, environ(nil))
	project, err := NewProject(repoRoot, env, "").Load(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := project.Networks["test-network"]; !ok || n.Driver != "bridge" {
		t.Fatalf("networks %v", project.Networks)
	}
	for _, s := range project.Services {
		if _, ok := s.Networks["test-network"]; !ok || len(s.Networks) != 1 {
			t.Errorf("service %s networks %v, want test-network only", s.Name, s.Networks)
		}
	}
}

// The registry, redis image and ports are interpolated with the seed's values
// as defaults, so the tests can point them elsewhere.
func TestInterpolationOverrides(t *testing.T) {
	e, _ := stack.LookupEnvironment("release")
	osEnv := map[string]string{"REGISTRY": "127.0.0.1:5000/dtx", "REDIS_IMAGE": "base:1", "HTTPS_PORT": "18443", "VERSION": "2.0.0"}
	env, _ := stack.LoadEnv(repoRoot, e, environ(osEnv))
	project, err := NewProject(repoRoot, env, "").Load(context.Background(), environ(osEnv))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1:5000/dtx/backend:2.0.0", "127.0.0.1:5000/dtx/frontend:2.0.0", "127.0.0.1:5000/dtx/nginx:2.0.0", "base:1"}
	if got := ImageRefs(project); !reflect.DeepEqual(got, want) {
		t.Fatalf("images %v, want %v", got, want)
	}
	var published []string
	for _, p := range project.Services["nginx"].Ports {
		published = append(published, p.Published)
	}
	if !reflect.DeepEqual(published, []string{"80", "18443"}) {
		t.Fatalf("published %v", published)
	}
	// nginx redirects HTTP to the published HTTPS port unless told otherwise.
	if got := *project.Services["nginx"].Environment["PUBLIC_HTTPS_PORT"]; got != "18443" {
		t.Fatalf("PUBLIC_HTTPS_PORT %q, want HTTPS_PORT's 18443", got)
	}
	osEnv["PUBLIC_HTTPS_PORT"] = "443"
	if project, err = NewProject(repoRoot, env, "").Load(context.Background(), environ(osEnv)); err != nil {
		t.Fatal(err)
	}
	if got := *project.Services["nginx"].Environment["PUBLIC_HTTPS_PORT"]; got != "443" {
		t.Fatalf("PUBLIC_HTTPS_PORT %q, want the override 443", got)
	}
}

// Precedence, as docker compose applies it: process environment over the
// .local file over the committed env file.
func TestEnvPrecedenceAsComposeSeesIt(t *testing.T) {
	root := copyProject(t)
	write(t, root, "docker/.env.prod.local", "DOMAIN=local.example\nHTTP_PORT=8081\n")
	domain := func(osEnv map[string]string) (string, string) {
		e, _ := stack.LookupEnvironment("prod")
		env, _ := stack.LoadEnv(root, e, environ(osEnv))
		project, err := NewProject(root, env, "").Load(context.Background(), environ(osEnv))
		if err != nil {
			t.Fatal(err)
		}
		return *project.Services["nginx"].Environment["DOMAIN"], env.Value("DOMAIN")
	}
	if compose, ours := domain(nil); compose != "local.example" || ours != "local.example" {
		t.Fatalf(".local must win over the env file: compose %q, ours %q", compose, ours)
	}
	if compose, ours := domain(map[string]string{"DOMAIN": "env.example"}); compose != "env.example" || ours != "env.example" {
		t.Fatalf("the process environment must win: compose %q, ours %q", compose, ours)
	}
	os.Remove(filepath.Join(root, "docker/.env.prod.local"))
	if compose, ours := domain(nil); compose != "dota.kettle.sh" || ours != "dota.kettle.sh" {
		t.Fatalf("the committed file is the default: compose %q, ours %q", compose, ours)
	}
}

func TestReleaseWithoutVersionFailsClearly(t *testing.T) {
	root := copyProject(t)
	write(t, root, "docker/.env.release", "DOMAIN=x.example\n")
	_, err := load(t, root, "release", nil)
	if err == nil || !strings.Contains(err.Error(), "docker-compose.release.yaml") || !strings.Contains(err.Error(), "VERSION is not set - set it in docker/.env.release") {
		t.Fatalf("err = %v", err)
	}
}

func TestComposeErrorNamesFileAndKey(t *testing.T) {
	root := copyProject(t)
	data, _ := os.ReadFile(filepath.Join(root, "docker-compose.debug.yaml"))
	write(t, root, "docker-compose.debug.yaml", strings.Replace(string(data), "    depends_on:\n      - frontend", "    depnds_on:\n      - frontend", 1))
	_, err := load(t, root, "debug", nil)
	// "validating …: services.nginx.depnds_on false schema" is compose-go's
	// JSON-schema validation, whose library compiles its metaschemas on
	// first use (third_party/jsonschema): it must still run.
	if err == nil || !strings.Contains(err.Error(), "docker-compose.debug.yaml") || !strings.Contains(err.Error(), "services.nginx.depnds_on false schema") {
		t.Fatalf("err = %v", err)
	}
}

func TestArgs(t *testing.T) {
	root := copyProject(t)
	write(t, root, "docker/.env.dev.local", "X=1\n")
	e, _ := stack.LookupEnvironment("debug")
	env, _ := stack.LoadEnv(root, e, environ(nil))
	got := NewProject(root, env, "").Args("up", "--wait")
	want := []string{"compose", "--project-name", "dtx-debug", "-f", "docker-compose.debug.yaml", "--env-file", "docker/.env.dev", "--env-file", "docker/.env.dev.local", "up", "--wait"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	p := NewProject(root, env, "")
	p.Override = e.EnvOverrideFile()
	got = p.Args("up")
	want = []string{"compose", "--project-name", "dtx-debug", "-f", "docker-compose.debug.yaml", "-f", "docker/.env.dev.compose.yaml", "--env-file", "docker/.env.dev", "--env-file", "docker/.env.dev.local", "up"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with the override got %q\nwant %q", got, want)
	}
}

// copyProject copies the compose and env files into a temp root.
func copyProject(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, e := range stack.Environments {
		for _, f := range []string{e.ComposeFile, e.EnvFile} {
			data, err := os.ReadFile(filepath.Join(repoRoot, f))
			if err != nil {
				t.Fatal(err)
			}
			write(t, root, f, string(data))
		}
	}
	return root
}

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	path := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
