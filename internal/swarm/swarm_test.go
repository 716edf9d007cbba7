package swarm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

var repoRoot, _ = filepath.Abs("../..")

const (
	djangoSecret = "s3cr3t-django-key-9f8e7d"
	dbPassword   = "pa$$word with spaces"
	certPEM      = "-----BEGIN CERTIFICATE-----\nMIIB-cert-body\n-----END CERTIFICATE-----\n"
	keyPEM       = "-----BEGIN PRIVATE KEY-----\nMIIE-key-body\n-----END PRIVATE KEY-----\n"
)

// releaseRoot is a project root with a copy of the real release compose
// and env files and nginx template, and local as docker/.env.release.local
// (none when empty).
func releaseRoot(t *testing.T, local string) string {
	t.Helper()
	root := t.TempDir()
	for _, rel := range []string{"docker-compose.release.yaml", "docker/.env.release", "nginx/default.template.conf"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if local != "" {
		if err := os.WriteFile(filepath.Join(root, "docker/.env.release.local"), []byte(local), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// plan derives the stack from a copy of the real release compose and env
// files with a .local file holding two secrets and one override.
func plan(t *testing.T, local string, environ ...string) (*Plan, *stack.Env) {
	t.Helper()
	root := releaseRoot(t, local)
	e, _ := stack.LookupEnvironment("release")
	env, err := stack.LoadEnv(root, e, environ)
	if err != nil {
		t.Fatal(err)
	}
	project, err := compose.NewProject(root, env, "").Load(context.Background(), environ)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, _ := os.ReadFile(filepath.Join(root, "nginx/default.template.conf"))
	p, err := Make(Input{Project: project, Env: env, Prefix: "dtx", Template: tmpl, Cert: []byte(certPEM), Key: []byte(keyPEM),
		Digests: map[string]string{"reg.example/site/nginx:1.2.3": "sha256:abc"}})
	if err != nil {
		t.Fatal(err)
	}
	return p, env
}

const local = "DJANGO_SECRET_KEY=" + djangoSecret + "\nDB_PASSWORD='" + dbPassword + "'\nEMPTY_TOKEN=\n"

func parse(t *testing.T, p *Plan) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(p.File, &m); err != nil {
		t.Fatalf("the stack file is not YAML: %v\n%s", err, p.File)
	}
	return m
}

// at walks a parsed YAML document by keys.
func at(t *testing.T, m any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		mm, ok := m.(map[string]any)
		if !ok {
			t.Fatalf("%s: not a mapping at %q", strings.Join(keys, "."), k)
		}
		m = mm[k]
	}
	return m
}

func TestStackFileHoldsNoSecretValue(t *testing.T) {
	p, _ := plan(t, local, "REGISTRY=reg.example/site", "VERSION=1.2.3")
	for _, v := range []string{djangoSecret, dbPassword, certPEM, keyPEM} {
		if strings.Contains(string(p.File), v) {
			t.Errorf("the stack file holds the secret %q:\n%s", v, p.File)
		}
	}
	m := parse(t, p)
	for _, svc := range []string{"frontend", "backend"} {
		t.Run(svc, func(t *testing.T) {
			env := at(t, m, "services", svc, "environment").(map[string]any)
			if env["DJANGO_SECRET_KEY_FILE"] != "/run/secrets/DJANGO_SECRET_KEY" || env["DB_PASSWORD_FILE"] != "/run/secrets/DB_PASSWORD" {
				t.Errorf("environment does not point at the secrets' files: %v", env)
			}
			if _, ok := env["DJANGO_SECRET_KEY"]; ok {
				t.Errorf("the secret's variable itself is in the environment: %v", env)
			}
			if env["EMPTY_TOKEN"] != "" {
				t.Errorf("an empty .local value should stay an empty variable: %v", env)
			}
			if env["DOMAIN"] != "dota.kettle.sh" {
				t.Errorf("non-secret variables of the env file should be there: DOMAIN=%v", env["DOMAIN"])
			}
		})
	}
}

func TestSecretsAreNamedByContent(t *testing.T) {
	a, _ := plan(t, local, "REGISTRY=reg.example/site", "VERSION=1.2.3")
	b, _ := plan(t, strings.Replace(local, djangoSecret, "another", 1), "REGISTRY=reg.example/site", "VERSION=1.2.3")
	names := func(p *Plan) map[string]string {
		m := map[string]string{}
		for _, s := range p.Secrets {
			m[s.Key] = s.Name
		}
		return m
	}
	na, nb := names(a), names(b)
	tests := []struct {
		key  string
		same bool
	}{
		{"DJANGO_SECRET_KEY", false},
		{"DB_PASSWORD", true},
		{"certificate", true},
		{"private key", true},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			if na[tc.key] == "" {
				t.Fatalf("no secret for %s: %v", tc.key, na)
			}
			if (na[tc.key] == nb[tc.key]) != tc.same {
				t.Errorf("names %s and %s: same=%v, want %v", na[tc.key], nb[tc.key], !tc.same, tc.same)
			}
			if !strings.HasPrefix(na[tc.key], "dtx_") {
				t.Errorf("%s does not start with the prefix", na[tc.key])
			}
		})
	}
	if got := na["DJANGO_SECRET_KEY"]; !strings.HasPrefix(got, "dtx_django_secret_key_") || len(got) != len("dtx_django_secret_key_")+12 {
		t.Errorf("secret name %q: want dtx_django_secret_key_<12 hex digits>", got)
	}
	m := parse(t, a)
	for _, s := range a.Secrets {
		if at(t, m, "secrets", s.Name, "external") != true {
			t.Errorf("secret %s is not declared external", s.Name)
		}
	}
}

func TestStackShape(t *testing.T) {
	p, _ := plan(t, local, "REGISTRY=reg.example/site", "VERSION=1.2.3", "HTTP_PORT=8081", "HTTPS_PORT=8444")
	m := parse(t, p)
	if m["version"] != "3.8" {
		t.Errorf("version = %v, want 3.8 (docker stack deploy of 20.10 needs it)", m["version"])
	}
	if _, ok := m["name"]; ok {
		t.Error("the stack file has name:, which docker stack deploy of 20.10 refuses")
	}
	str := func(keys ...string) any { return at(t, m, keys...) }
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"frontend image at VERSION", str("services", "frontend", "image"), "reg.example/site/frontend:1.2.3"},
		{"backend image at VERSION", str("services", "backend", "image"), "reg.example/site/backend:1.2.3"},
		{"nginx image by digest when known", str("services", "nginx", "image"), "reg.example/site/nginx@sha256:abc"},
		{"frontend start-first", str("services", "frontend", "deploy", "update_config", "order"), "start-first"},
		{"backend start-first", str("services", "backend", "deploy", "update_config", "order"), "start-first"},
		{"backend rolls back", str("services", "backend", "deploy", "update_config", "failure_action"), "rollback"},
		{"backend rollback start-first", str("services", "backend", "deploy", "rollback_config", "order"), "start-first"},
		{"backend replicas", str("services", "backend", "deploy", "replicas"), AppReplicas},
		{"backend dnsrr", str("services", "backend", "deploy", "endpoint_mode"), "dnsrr"},
		{"nginx dnsrr", str("services", "nginx", "deploy", "endpoint_mode"), "dnsrr"},
		{"nginx stop-first", str("services", "nginx", "deploy", "update_config", "order"), "stop-first"},
		{"nginx global", str("services", "nginx", "deploy", "mode"), "global"},
		{"nginx template config", str("services", "nginx", "configs").([]any)[0].(map[string]any)["target"], TemplateTarget},
		{"nginx finds its certificate in the secrets", str("services", "nginx", "environment", "DTX_SSL_DIR"), SecretsDir},
		{"redis placement", str("services", "redis", "deploy", "placement", "constraints").([]any)[0], "node.labels.dtx.redis == true"},
		{"redis volume", str("services", "redis", "volumes").([]any)[1].(map[string]any)["source"], "redis_data"},
		{"redis memory limit", str("services", "redis", "deploy", "resources", "limits", "memory"), "268435456"},
		{"read-only root", str("services", "backend", "read_only"), true},
		{"caps dropped", str("services", "backend", "cap_drop").([]any)[0], "ALL"},
		{"bounded logs", str("services", "frontend", "logging", "options", "max-size"), "10m"},
		{"backend healthcheck from the image", str("services", "backend", "healthcheck"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
	t.Run("nginx ports in host mode", func(t *testing.T) {
		ports := str("services", "nginx", "ports").([]any)
		want := map[int]int{80: 8081, 443: 8444}
		if len(ports) != 2 {
			t.Fatalf("ports: %v", ports)
		}
		for _, pp := range ports {
			pm := pp.(map[string]any)
			if pm["mode"] != "host" || want[pm["target"].(int)] != pm["published"].(int) {
				t.Errorf("port %v: want host mode, %v", pm, want)
			}
		}
	})
	t.Run("no bind mount", func(t *testing.T) {
		if strings.Contains(string(p.File), "type: bind") || strings.Contains(string(p.File), "source: .") {
			t.Errorf("the stack file mounts something of the checkout:\n%s", p.File)
		}
	})
}

func TestMissingPiecesAreNamed(t *testing.T) {
	_, env := plan(t, "")
	root := repoRoot
	project, err := compose.NewProject(root, env, "").Load(context.Background(), []string{"VERSION=1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	full := Input{Project: project, Env: env, Template: []byte("t"), Cert: []byte("c"), Key: []byte("k")}
	tests := []struct {
		name  string
		input func(Input) Input
		want  string
	}{
		{"no project", func(in Input) Input { in.Project = nil; return in }, "no compose project"},
		{"no template", func(in Input) Input { in.Template = nil; return in }, "nginx/default.template.conf is empty or missing"},
		{"no certificate", func(in Input) Input { in.Cert = nil; return in }, "no certificate and key"},
		{"no key", func(in Input) Input { in.Key = nil; return in }, "no certificate and key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Make(tc.input(full))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
	if _, err := Make(full); err != nil {
		t.Errorf("the complete input fails: %v", err)
	}
}

// Two versions of an unchanged image name the same digest, so Swarm sees
// no change and does not restart the service.
func TestImageByDigest(t *testing.T) {
	in := Input{Digests: map[string]string{
		"127.0.0.1:5000/site/nginx:1.0.0": "sha256:aaa",
		"127.0.0.1:5000/site/nginx:1.1.0": "sha256:aaa",
	}}
	tests := []struct{ name, ref, want string }{
		{"registry with a port, v1", "127.0.0.1:5000/site/nginx:1.0.0", "127.0.0.1:5000/site/nginx@sha256:aaa"},
		{"registry with a port, v2", "127.0.0.1:5000/site/nginx:1.1.0", "127.0.0.1:5000/site/nginx@sha256:aaa"},
		{"unknown digest keeps the tag", "127.0.0.1:5000/site/backend:1.1.0", "127.0.0.1:5000/site/backend:1.1.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := in.image(tc.ref); got != tc.want {
				t.Errorf("image(%s) = %s, want %s", tc.ref, got, tc.want)
			}
		})
	}
}
