package compose

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// serviceEnv is what each service of environment name gets as its
// environment when docker compose loads the project the way the tool runs
// it: with or without the env override.
func serviceEnv(t *testing.T, root, name string, osEnv map[string]string, override bool) (*stack.Env, map[string]map[string]string) {
	t.Helper()
	e, _ := stack.LookupEnvironment(name)
	env, err := stack.LoadEnv(root, e, environ(osEnv))
	if err != nil {
		t.Fatal(err)
	}
	p := NewProject(root, env, "")
	if override {
		o, err := p.EnvOverride(context.Background(), environ(osEnv))
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Write(root); err != nil {
			t.Fatal(err)
		}
		p.Override = o.Path
	}
	project, err := p.Load(context.Background(), environ(osEnv))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for svcName, svc := range project.Services {
		got[svcName] = map[string]string{}
		for k, v := range svc.Environment {
			if v != nil {
				got[svcName][k] = *v
			}
		}
	}
	return env, got
}

// Every service that reads the env files sees, for every key they set, the
// value after precedence: the process over .local over the committed file.
func TestEnvOverrideMakesPrecedenceHoldInServices(t *testing.T) {
	for _, name := range stack.EnvironmentNames() {
		t.Run(name, func(t *testing.T) {
			root := copyProject(t)
			e, _ := stack.LookupEnvironment(name)
			write(t, root, e.LocalEnvFile(), "DB_PASSWORD=from-local\nHTTP_PORT=8081\nDJANGO_SECRET_KEY=\"s3cr'et $$HOME\"\n")
			osEnv := map[string]string{"DOMAIN": "override.example.com", "DB_PASSWORD": `pa'ss "w0rd" $HOME ${X}`, "VERSION": "1.0.0"}

			_, before := serviceEnv(t, root, name, osEnv, false)
			if got := before["backend"]["DOMAIN"]; got == "override.example.com" {
				t.Fatalf("without the override backend already sees the process DOMAIN: the test proves nothing")
			}

			env, services := serviceEnv(t, root, name, osEnv, true)
			for _, svc := range []string{"frontend", "backend"} {
				for _, k := range env.Keys() {
					if got, want := services[svc][k], env.Value(k); got != want {
						t.Errorf("%s sees %s=%q, want %q (%s)", svc, k, got, want, env.Source(k))
					}
				}
			}
			for svc, want := range map[string]map[string]string{
				"backend":  {"DOMAIN": "override.example.com", "HTTP_PORT": "8081", "DB_PASSWORD": `pa'ss "w0rd" $HOME ${X}`, "DJANGO_SECRET_KEY": "s3cr'et $HOME"},
				"frontend": {"DOMAIN": "override.example.com"},
				"nginx":    {"DOMAIN": "override.example.com"},
			} {
				for k, v := range want {
					if services[svc][k] != v {
						t.Errorf("%s sees %s=%q, want %q", svc, k, services[svc][k], v)
					}
				}
			}
			if _, ok := services["redis"]["DOMAIN"]; ok {
				t.Errorf("redis reads no env file, yet gets DOMAIN")
			}
		})
	}
}

func TestEnvOverrideLeavesOwnEnvironmentAndOtherFiles(t *testing.T) {
	root := t.TempDir()
	write(t, root, "docker/.env.dev", "DEBUG=0\nDOMAIN=file.example\n")
	write(t, root, "other.env", "OTHER=1\n")
	write(t, root, "docker-compose.debug.yaml", `services:
  backend:
    image: b
    env_file: [docker/.env.dev]
    environment:
      DEBUG: "1"
  worker:
    image: w
    env_file: [other.env]
  web:
    image: n
`)
	e, _ := stack.LookupEnvironment("debug")
	env, err := stack.LoadEnv(root, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewProject(root, env, "").EnvOverride(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"backend": {"DOMAIN"}}
	if !reflect.DeepEqual(o.Services, want) {
		t.Fatalf("services %v, want %v", o.Services, want)
	}
	if o.Path != "docker/.env.dev.compose.yaml" {
		t.Fatalf("path %s", o.Path)
	}
	if got := o.Summary(); got != "backend take DOMAIN from the project environment (the process over the env files), names only" {
		t.Fatalf("summary %q", got)
	}
}

func TestEnvOverrideHoldsNamesOnlyAndWritesOnce(t *testing.T) {
	root := copyProject(t)
	write(t, root, "docker/.env.prod.local", "DB_PASSWORD=hunter2\n")
	e, _ := stack.LookupEnvironment("prod")
	env, _ := stack.LoadEnv(root, e, []string{"DOMAIN=sekret.example"})
	o, err := NewProject(root, env, "").EnvOverride(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2", "sekret.example", "dota.kettle.sh"} {
		if strings.Contains(string(o.Content()), secret) {
			t.Fatalf("the override holds the value %q:\n%s", secret, o.Content())
		}
	}
	if err := o.Write(root); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, o.Path)
	fi, _ := os.Stat(path)
	if err := o.Write(root); err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(path)
	if !os.SameFile(fi, fi2) {
		t.Errorf("an unchanged override was rewritten")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".compose-override-") {
			t.Errorf("temporary file left: %s", en.Name())
		}
	}
}

// FuzzEnvOverride holds the env override to its promise for any env files
// compose-go reads: each service reading them through env_file sees, for
// every key they set, the tool's value (the process over .local over the
// committed file).
func FuzzEnvOverride(f *testing.F) {
	f.Add("DOMAIN=file.example\nA=1\n", "A=2\nB=${A}\n", "process.example")
	f.Add("a.b-c[0]=1\nNAMÉ=x\nword", "export K=\"multi\nline $$ \\\" '\"\n", "v$x'\"")
	f.Add("A=${DOMAIN:-d}\nB\n", "DOMAIN=local\n", "")
	f.Fuzz(func(t *testing.T, committed, local, value string) {
		if strings.Count(committed+local, "$") > 12 {
			t.Skip() // 2^n bytes from n lines of A=${A}${A}
		}
		root := t.TempDir()
		write(t, root, "docker/.env.prod", committed)
		write(t, root, "docker/.env.prod.local", local)
		write(t, root, "docker-compose.prod.yaml", "services:\n  app:\n    image: a\n    env_file: [docker/.env.prod, docker/.env.prod.local]\n")
		e, _ := stack.LookupEnvironment("prod")
		environ := []string{"DOMAIN=" + value, "A=" + value}
		env, err := stack.LoadEnv(root, e, environ)
		if err != nil {
			t.Skip() // files compose-go refuses: stack's fuzz test holds the two to the same errors
		}
		p := NewProject(root, env, "")
		if _, err := p.Load(context.Background(), environ); err != nil {
			t.Skip() // env_file's own parse refuses it, override or not
		}
		o, err := p.EnvOverride(context.Background(), environ)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Write(root); err != nil {
			t.Fatal(err)
		}
		p.Override = o.Path
		project, err := p.Load(context.Background(), environ)
		if err != nil {
			t.Fatalf("the override breaks the project: %v\n%s", err, o.Content())
		}
		// Both ways: app (which reads both files and sets nothing of its
		// own) sees the keys the files set, no more and no fewer, and the
		// override names them all; then each value is the tool's. "" is
		// left out: compose-go sets it for a last line without = or
		// newline, which Keys leaves out since no container can take it.
		got := project.Services["app"].Environment
		seen := slices.DeleteFunc(slices.Sorted(maps.Keys(got)), func(k string) bool { return k == "" })
		if !slices.Equal(seen, env.Keys()) {
			t.Errorf("app sees the keys %q, the tool's env files set %q", seen, env.Keys())
		}
		if !slices.Equal(o.Services["app"], env.Keys()) {
			t.Errorf("the override names %q for app, the env files set %q", o.Services["app"], env.Keys())
		}
		for _, k := range env.Keys() {
			if v := got[k]; v == nil || *v != env.Value(k) {
				t.Errorf("app sees %q=%v, the tool %q", k, v, env.Value(k))
			}
		}
	})
}
