package stack

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func load(t *testing.T, files map[string]string, osEnv map[string]string) (*Env, error) {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	e, _ := LookupEnvironment("prod")
	return LoadEnv(root, e, environ(osEnv))
}

// environ is osEnv as KEY=value entries, in a stable order.
func environ(osEnv map[string]string) []string {
	var kv []string
	for _, k := range sortedKeys(osEnv) {
		kv = append(kv, k+"="+osEnv[k])
	}
	return kv
}

func TestPrecedence(t *testing.T) {
	env, err := load(t, map[string]string{
		"docker/.env.prod":       "A=file\nB=file\nC=file\n",
		"docker/.env.prod.local": "B=local\nC=local\n",
	}, map[string]string{"C": "process"})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"A": "file", "B": "local", "C": "process"} {
		if got := env.Value(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if got := env.Source("B"); got != "docker/.env.prod.local" {
		t.Errorf("source of B: %s", got)
	}
	if !slices.Equal(env.Files, []string{"docker/.env.prod", "docker/.env.prod.local"}) {
		t.Errorf("files %v", env.Files)
	}
}

func TestSecretsAreLocalValuesAndSecretNames(t *testing.T) {
	env, err := load(t, map[string]string{
		"docker/.env.prod":       "DOMAIN=example.com\nDB_PASSWORD=from-file\n",
		"docker/.env.prod.local": "CERTBOT_EMAIL=me@example.com\n",
	}, map[string]string{"DB_PASSWORD": "from-process"})
	if err != nil {
		t.Fatal(err)
	}
	secrets := env.Secrets([]string{"GITHUB_TOKEN=ghp_x", "HOME=/root"})
	for _, want := range []string{"from-file", "me@example.com", "from-process", "ghp_x"} {
		if !slices.Contains(secrets, want) {
			t.Errorf("%q not masked (secrets %v)", want, secrets)
		}
	}
	for _, not := range []string{"example.com", "/root"} {
		if slices.Contains(secrets, not) {
			t.Errorf("%q is no secret", not)
		}
	}
}

func TestIsSecretKey(t *testing.T) {
	for key, want := range map[string]bool{"DJANGO_SECRET_KEY": true, "DB_PASSWORD": true, "GITHUB_TOKEN": true, "SECRET": true, "api_key": true, "KEYBOARD": false, "DOMAIN": false, "MONKEY": false} {
		if IsSecretKey(key) != want {
			t.Errorf("IsSecretKey(%s) != %v", key, want)
		}
	}
}

func TestRegistry(t *testing.T) {
	env, _ := load(t, map[string]string{"docker/.env.prod": ""}, nil)
	if env.Registry() != DefaultRegistry {
		t.Fatal(env.Registry())
	}
	env, _ = load(t, map[string]string{"docker/.env.prod": ""}, map[string]string{"REGISTRY": "127.0.0.1:5000/x/"})
	if env.Registry() != "127.0.0.1:5000/x" {
		t.Fatal(env.Registry())
	}
}

func TestLookupEnvironment(t *testing.T) {
	if e, err := LookupEnvironment("release"); err != nil || e.ComposeFile != "docker-compose.release.yaml" || e.LocalEnvFile() != "docker/.env.release.local" {
		t.Fatalf("%+v %v", e, err)
	}
}

func TestLongNamesAreClipped(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	cases := []struct {
		name string
		err  func() error
	}{
		{"environment", func() error { _, err := LookupEnvironment(long); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), strings.Repeat("x", MaxShown)+"…") {
				t.Fatalf("error of %d bytes: %.200v", len(err.Error()), err)
			}
		})
	}
}
