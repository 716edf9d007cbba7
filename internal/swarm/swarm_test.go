package swarm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var repoRoot, _ = filepath.Abs("../..")

const (
	djangoSecret = "s3cr3t-django-key-9f8e7d"
	dbPassword   = "pa$$word with spaces"
	// namesKey is the key the tests name secrets with (NamesKeyVariable).
	namesKey = "0123456789abcdef0123456789abcdef-test-key"
)

// website is what the website adds to the release compose file: three
// services on the backend image with entrypoints of their own and no
// ports; the scheduler must never run twice.
const website = `
  worker:
    image: "${REGISTRY:-ghcr.io/kettleofketchup/dtx_website}/backend:${VERSION}"
    <<: [*app, *hardened]
    entrypoint: ["celery", "-A", "config"]
    command: ["worker", "--concurrency", "2"]
    healthcheck: {disable: true}
    stop_grace_period: 1m
  beat:
    image: "${REGISTRY:-ghcr.io/kettleofketchup/dtx_website}/backend:${VERSION}"
    <<: [*app, *hardened]
    entrypoint: ["celery", "-A", "config"]
    command: ["beat"]
    healthcheck: {disable: true}
    x-dtx: {update: stop-first}
  discord-bot:
    image: "${REGISTRY:-ghcr.io/kettleofketchup/dtx_website}/backend:${VERSION}"
    <<: [*app, *hardened]
    command: ["python3", "manage.py", "run_discord_bot"]
    healthcheck: {disable: true}
`

// releaseRoot is a project root with a copy of the real release compose
// and env files and nginx template, edit applied to the compose file, and
// local as docker/.env.release.local (none when empty).
func releaseRoot(t *testing.T, local string, edit ...func(string) string) string {
	t.Helper()
	root := t.TempDir()
	for _, rel := range []string{"docker-compose.release.yaml", "docker/.env.release", "nginx/default.template.conf"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		if rel == "docker-compose.release.yaml" {
			for _, e := range edit {
				data = []byte(e(string(data)))
			}
		}
		writeTestFile(t, filepath.Join(root, rel), string(data))
	}
	if local != "" {
		writeTestFile(t, filepath.Join(root, "docker/.env.release.local"), local)
	}
	return root
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// withWebsite adds the website's services.
func withWebsite(compose string) string { return compose + website }

// declare adds x-dtx: {secrets: keys} to service.
func declare(service string, keys ...string) func(string) string {
	return func(compose string) string {
		return withDeclared(compose, service, "secrets: ["+strings.Join(keys, ", ")+"]")
	}
}

// withDeclared adds the line key: value to service's x-dtx, into the
// block the compose file has (the data it declares) or a new one.
func withDeclared(compose, service, line string) string {
	start := strings.Index(compose, "\n  "+service+":\n")
	if start < 0 {
		return compose
	}
	block := compose[start+1:]
	if next := regexp.MustCompile(`\n  [a-z-]+:\n`).FindStringIndex(block[1:]); next != nil {
		block = block[:next[0]+1]
	}
	if i := strings.Index(block, "\n    x-dtx:\n"); i >= 0 {
		at := start + 1 + i + len("\n    x-dtx:\n")
		return compose[:at] + "      " + line + "\n" + compose[at:]
	}
	return strings.Replace(compose, "\n  "+service+":\n", "\n  "+service+":\n    x-dtx: {"+line+"}\n", 1)
}

// addEnv adds environment entries (YAML lines) to a service that has an
// environment: block (the proxy) or none (the others).
func addEnv(service string, lines ...string) func(string) string {
	return func(compose string) string {
		entries := "      " + strings.Join(lines, "\n      ") + "\n"
		if service == "nginx" {
			return strings.Replace(compose, "    environment:\n      DOMAIN:", "    environment:\n"+entries+"      DOMAIN:", 1)
		}
		return strings.Replace(compose, "\n  "+service+":\n", "\n  "+service+":\n    environment:\n"+entries, 1)
	}
}

// planOf derives the plan as swarm:deploy does, in a dry run whose engine
// does not answer, with the test's names key and digests. The tests' images
// are in a registry on a port of the loopback where nothing listens: no
// digest, at once.
func planOf(t *testing.T, root string, digests map[string]string, environ ...string) (*Plan, error) {
	t.Helper()
	o, _, _ := newSession(root, true, append([]string{noEngine, NamesKeyVariable + "=" + namesKey}, environ...)...)
	var p *Plan
	err := onStack(o, func(s *Stack) error {
		in, err := s.input(context.Background())
		if err != nil {
			return err
		}
		maps.Copy(in.Digests, digests)
		p, err = Make(in)
		return err
	})
	return p, err
}

func mustPlan(t *testing.T, root string, environ ...string) *Plan {
	t.Helper()
	p, err := planOf(t, root, nil, append([]string{"REGISTRY=127.0.0.1:9/site", "VERSION=1.2.3"}, environ...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
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

func envOf(t *testing.T, m map[string]any, service string) map[string]any {
	t.Helper()
	env, _ := at(t, m, "services", service, "environment").(map[string]any)
	return env
}

// secretsOf are the targets of the secrets a service mounts.
func secretsOf(t *testing.T, m map[string]any, service string) []string {
	t.Helper()
	var targets []string
	list, _ := at(t, m, "services", service, "secrets").([]any)
	for _, s := range list {
		targets = append(targets, s.(map[string]any)["target"].(string))
	}
	return targets
}

// The .local values are in no stack file; a service gets the secrets it
// declares, as files, and no other: frontend reads the same env files but
// declares none.
func TestEachServiceGetsOnlyTheSecretsItUses(t *testing.T) {
	p := mustPlan(t, releaseRoot(t, local, declare("backend", "DJANGO_SECRET_KEY", "DB_PASSWORD")))
	for _, v := range []string{djangoSecret, dbPassword, strings.ReplaceAll(dbPassword, "$", "$$")} {
		if strings.Contains(string(p.File), v) {
			t.Errorf("the stack file holds the secret %q:\n%s", v, p.File)
		}
	}
	m := parse(t, p)
	be, fe := envOf(t, m, "backend"), envOf(t, m, "frontend")
	if be["DJANGO_SECRET_KEY_FILE"] != "/run/secrets/DJANGO_SECRET_KEY" || be["DB_PASSWORD_FILE"] != "/run/secrets/DB_PASSWORD" {
		t.Errorf("backend's environment does not point at the secrets' files: %v", be)
	}
	if got := strings.Join(secretsOf(t, m, "backend"), ","); got != "DB_PASSWORD,DJANGO_SECRET_KEY" {
		t.Errorf("backend mounts %s", got)
	}
	for _, k := range []string{"DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FILE", "DB_PASSWORD", "DB_PASSWORD_FILE"} {
		if _, ok := fe[k]; ok {
			t.Errorf("frontend, which declares no secret, gets %s", k)
		}
		if _, ok := be[strings.TrimSuffix(k, "_FILE")]; ok && !strings.HasSuffix(k, "_FILE") {
			t.Errorf("the secret's variable itself is in backend's environment")
		}
	}
	if s := secretsOf(t, m, "frontend"); len(s) != 0 {
		t.Errorf("frontend mounts %v", s)
	}
	for _, svc := range []string{"frontend", "backend"} {
		env := envOf(t, m, svc)
		if v, ok := env["EMPTY_TOKEN"]; !ok || v != "" {
			t.Errorf("%s: an empty .local value should stay an empty variable: %v", svc, env)
		}
		if env["DOMAIN"] != "dota.kettle.sh" {
			t.Errorf("%s: non-secret variables of the env file should be there: DOMAIN=%v", svc, env["DOMAIN"])
		}
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "service frontend does not get DB_PASSWORD, DJANGO_SECRET_KEY from its env_file") {
		t.Errorf("notes: %q", p.Notes)
	}
}

// A secret's name tells nothing of its value without the names key: it is
// no plain hash of the value; the same value and key give the same name
// (no restart), another value or another key another name.
func TestSecretNames(t *testing.T) {
	root := releaseRoot(t, local, declare("backend", "DJANGO_SECRET_KEY", "DB_PASSWORD"))
	names := func(p *Plan) map[string]string {
		m := map[string]string{}
		for _, s := range p.Secrets {
			m[s.Key] = s.Name
		}
		return m
	}
	a, again := names(mustPlan(t, root)), names(mustPlan(t, root))
	otherKey := names(mustPlan(t, root, NamesKeyVariable+"=another-key-of-at-least-32-characters"))
	b := names(mustPlan(t, releaseRoot(t, strings.Replace(local, djangoSecret, "another", 1), declare("backend", "DJANGO_SECRET_KEY", "DB_PASSWORD"))))
	for _, key := range []string{"DJANGO_SECRET_KEY", "DB_PASSWORD", "certificate", "private key"} {
		if a[key] == "" {
			t.Fatalf("no secret for %s: %v", key, a)
		}
		if a[key] != again[key] {
			t.Errorf("%s: an unchanged value got a new name: %s, %s", key, a[key], again[key])
		}
		if a[key] == otherKey[key] {
			t.Errorf("%s: another names key gives the same name %s", key, a[key])
		}
		if changed := key == "DJANGO_SECRET_KEY"; (a[key] != b[key]) != changed {
			t.Errorf("%s: names %s and %s, changed value: %v", key, a[key], b[key], changed)
		}
	}
	for key, value := range map[string]string{"DJANGO_SECRET_KEY": djangoSecret, "DB_PASSWORD": dbPassword} {
		sum := sha256.Sum256([]byte(value))
		if strings.Contains(a[key], hex.EncodeToString(sum[:])[:12]) {
			t.Errorf("%s is named by the plain SHA-256 of its value: %s", key, a[key])
		}
	}
	if got := a["DJANGO_SECRET_KEY"]; !strings.HasPrefix(got, "dtx_django_secret_key_") || len(got) != len("dtx_django_secret_key_")+12 {
		t.Errorf("secret name %q: want dtx_django_secret_key_<12 hex digits>", got)
	}
	m := parse(t, mustPlan(t, root))
	for _, name := range a {
		if at(t, m, "secrets", name, "external") != true {
			t.Errorf("secret %s is not declared external", name)
		}
	}
}

// The starter's stack: each service as its role (derived from the compose
// file's shape) wants it.
func TestStarterStack(t *testing.T) {
	root := releaseRoot(t, local)
	p, err := planOf(t, root, map[string]string{"127.0.0.1:9/site/nginx:1.2.3": "sha256:abc"},
		"REGISTRY=127.0.0.1:9/site", "VERSION=1.2.3", "HTTP_PORT=8081", "HTTPS_PORT=8444")
	if err != nil {
		t.Fatal(err)
	}
	m := parse(t, p)
	if m["version"] != "3.8" {
		t.Errorf("version = %v, want 3.8 (docker stack deploy of 20.10 needs it)", m["version"])
	}
	if _, ok := m["name"]; ok {
		t.Error("the stack file has name:, which docker stack deploy of 20.10 refuses")
	}
	str := func(keys ...string) any { return at(t, m, keys...) }
	first := func(v any) any {
		l, _ := v.([]any)
		if len(l) == 0 {
			return nil
		}
		return l[0]
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"frontend image at VERSION", str("services", "frontend", "image"), "127.0.0.1:9/site/frontend:1.2.3"},
		{"backend image at VERSION", str("services", "backend", "image"), "127.0.0.1:9/site/backend:1.2.3"},
		{"nginx image by digest when known", str("services", "nginx", "image"), "127.0.0.1:9/site/nginx@sha256:abc"},
		{"routed: start-first", str("services", "frontend", "deploy", "update_config", "order"), "start-first"},
		{"routed: rolls back", str("services", "backend", "deploy", "update_config", "failure_action"), "rollback"},
		{"routed: rollback start-first", str("services", "backend", "deploy", "rollback_config", "order"), "start-first"},
		{"routed: delay over the proxy's address cache", str("services", "backend", "deploy", "update_config", "delay"), "12s"},
		{"routed: replicas", str("services", "backend", "deploy", "replicas"), 2},
		{"routed: dnsrr", str("services", "backend", "deploy", "endpoint_mode"), "dnsrr"},
		{"routed: stop grace", str("services", "backend", "stop_grace_period"), "10s"},
		{"proxy: dnsrr", str("services", "nginx", "deploy", "endpoint_mode"), "dnsrr"},
		{"proxy: stop-first", str("services", "nginx", "deploy", "update_config", "order"), "stop-first"},
		{"proxy: global", str("services", "nginx", "deploy", "mode"), "global"},
		{"proxy: the template as a config at its compose target", first(str("services", "nginx", "configs")).(map[string]any)["target"], "/etc/nginx/templates/default.conf.template"},
		{"proxy: its certificate in the secrets", str("services", "nginx", "environment", "DTX_SSL_DIR"), SecretsDir},
		{"proxy: the webroot volume", volumeAt(str("services", "nginx", "volumes"), "/var/www/certbot"), "certbot_www"},
		{"stateful: on the data node", first(str("services", "redis", "deploy", "placement", "constraints")), "node.labels.dtx.data == true"},
		{"stateful: its data in a named volume", str("services", "redis", "volumes").([]any)[1].(map[string]any)["source"], "redis_data"},
		{"stateful: one replica", str("services", "redis", "deploy", "replicas"), 1},
		{"stateful: stop-first", str("services", "redis", "deploy", "update_config", "order"), "stop-first"},
		{"stateful: memory limit", str("services", "redis", "deploy", "resources", "limits", "memory"), "268435456"},
		{"declared data: on the data node", first(str("services", "backend", "deploy", "placement", "constraints")), "node.labels.dtx.data == true"},
		{"declared data: its folder a named volume", str("services", "backend", "volumes").([]any)[1].(map[string]any)["source"], "backend_app_data"},
		{"read-only root", str("services", "backend", "read_only"), true},
		{"caps dropped", first(str("services", "backend", "cap_drop")), "ALL"},
		{"bounded logs", str("services", "frontend", "logging", "options", "max-size"), "10m"},
		{"backend's health check is its image's", str("services", "backend", "healthcheck"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
	t.Run("proxy ports in host mode", func(t *testing.T) {
		ports := str("services", "nginx", "ports").([]any)
		// nginx listens on unprivileged ports inside (it runs as a user,
		// not root); the node's published ports are the compose file's.
		want := map[int]int{8080: 8081, 8443: 8444}
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
		if strings.Contains(string(p.File), "type: bind") || strings.Contains(string(p.File), "source: .") || strings.Contains(string(p.File), root) {
			t.Errorf("the stack file mounts something of the checkout:\n%s", p.File)
		}
	})
	if got := strings.Join(p.Services, ","); got != "backend,frontend,nginx,redis" {
		t.Errorf("services %s", got)
	}
	if len(p.Configs) != 1 || p.Configs[0].Key != "nginx/default.template.conf" || !strings.HasPrefix(p.Configs[0].Name, "dtx_nginx_default_template_conf_") {
		t.Errorf("configs: %v", p.Configs)
	}
}

// The website's workers, on the backend image without ports: each keeps
// its entrypoint and command, its replicas and its update order (the
// scheduler stop-first), and rolls back on failure; no code names them.
func TestWebsiteWorkers(t *testing.T) {
	m := parse(t, mustPlan(t, releaseRoot(t, local, withWebsite)))
	str := func(keys ...string) any { return at(t, m, keys...) }
	for _, c := range []struct {
		service, order string
	}{{"worker", "start-first"}, {"beat", "stop-first"}, {"discord-bot", "start-first"}} {
		t.Run(c.service, func(t *testing.T) {
			if got := str("services", c.service, "image"); got != "127.0.0.1:9/site/backend:1.2.3" {
				t.Errorf("image %v", got)
			}
			for _, k := range []string{"update_config", "rollback_config"} {
				if got := str("services", c.service, "deploy", k, "order"); got != c.order {
					t.Errorf("%s order %v, want %s", k, got, c.order)
				}
			}
			if got := str("services", c.service, "deploy", "update_config", "failure_action"); got != "rollback" {
				t.Errorf("failure_action %v", got)
			}
			if got := str("services", c.service, "deploy", "replicas"); got != 1 {
				t.Errorf("replicas %v", got)
			}
			if got := str("services", c.service, "healthcheck", "disable"); got != true {
				t.Errorf("the image's health check is not disabled: %v", got)
			}
			if got := str("services", c.service, "ports"); got != nil {
				t.Errorf("ports %v", got)
			}
		})
	}
	if got := str("services", "worker", "entrypoint").([]any); len(got) != 3 || got[0] != "celery" {
		t.Errorf("worker's entrypoint %v", got)
	}
	if got := str("services", "worker", "stop_grace_period"); got != "1m0s" {
		t.Errorf("worker's stop_grace_period %v", got)
	}
	if got := str("services", "beat", "command").([]any); len(got) != 1 || got[0] != "beat" {
		t.Errorf("beat's command %v", got)
	}
}

// The proxy's settings set in the .local file reach it as files (its
// entrypoint reads DOMAIN_FILE…), not in the stack file.
func TestProxySettingsFromTheLocalFile(t *testing.T) {
	p := mustPlan(t, releaseRoot(t, "DOMAIN=local.example\nHSTS_HEADER=max-age=600\n"))
	m := parse(t, p)
	env := envOf(t, m, "nginx")
	for _, k := range []string{"DOMAIN", "HSTS_HEADER"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s is in nginx's environment", k)
		}
		if env[k+"_FILE"] != "/run/secrets/"+k {
			t.Errorf("%s_FILE = %v", k, env[k+"_FILE"])
		}
	}
	if got := strings.Join(secretsOf(t, m, "nginx"), ","); got != "DOMAIN,HSTS_HEADER,fullchain.pem,privkey.pem" {
		t.Errorf("nginx mounts %s", got)
	}
	if strings.Contains(string(p.File), "local.example") || strings.Contains(string(p.File), "max-age=600") {
		t.Errorf("a .local value is in the stack file:\n%s", p.File)
	}
}

// A variable whose value holds a secret's, by interpolation in the compose
// file or in an env file, is a secret too.
func TestValuesThatHoldASecret(t *testing.T) {
	root := releaseRoot(t, "DB_PASSWORD='"+dbPassword+"'\nDATABASE_URL=postgres://app:${DB_PASSWORD}@db/app\n",
		withWebsite, declare("worker", "DATABASE_URL"),
		addEnv("backend", `CACHE_URL: "redis://:${DB_PASSWORD}@redis:6379/0"`, `PLAIN: "no secret here"`),
		addEnv("nginx", `UPSTREAM_AUTH: "Basic ${DB_PASSWORD}"`))
	p := mustPlan(t, root)
	m := parse(t, p)
	if strings.Contains(string(p.File), "pa$") || strings.Contains(string(p.File), "spaces") {
		t.Fatalf("the stack file holds the password:\n%s", p.File)
	}
	for svc, keys := range map[string][]string{"backend": {"CACHE_URL"}, "nginx": {"UPSTREAM_AUTH"}, "worker": {"DATABASE_URL"}} {
		for _, k := range keys {
			if envOf(t, m, svc)[k+"_FILE"] != "/run/secrets/"+k {
				t.Errorf("%s: %s is not a secret: %v", svc, k, envOf(t, m, svc))
			}
		}
	}
	if envOf(t, m, "backend")["PLAIN"] != "no secret here" {
		t.Errorf("a plain value is not kept")
	}
	values := map[string]string{}
	for _, s := range p.Secrets {
		values[s.Key] = string(s.Value)
	}
	if values["CACHE_URL"] != "redis://:"+dbPassword+"@redis:6379/0" || values["DATABASE_URL"] != "postgres://app:"+dbPassword+"@db/app" {
		t.Errorf("the secrets do not hold the interpolated values: %q", values)
	}
}

// A secret where no Swarm secret can take its place refuses the deploy,
// with one line naming the service, the field and the variable.
func TestASecretWhereNoneCanGoRefusesTheDeploy(t *testing.T) {
	for _, c := range []struct{ name, compose, want string }{
		{"command", `    command: ["--password", "${DB_PASSWORD}"]`, "service backend: its command holds the value of DB_PASSWORD"},
		{"healthcheck", "    healthcheck:\n      test: [\"CMD\", \"probe\", \"--token=${DB_PASSWORD}\"]", "service backend: its healthcheck holds the value of DB_PASSWORD"},
		{"image tag", `    image: "127.0.0.1:9/site/backend:${DB_PASSWORD}"`, "service backend: its image holds the value of DB_PASSWORD"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := releaseRoot(t, "DB_PASSWORD=hunter2-hunter2\n", func(s string) string {
				return strings.Replace(s, "\n  backend:\n", "\n  backend:\n"+c.compose+"\n", 1)
			})
			if c.name == "image tag" {
				root = releaseRoot(t, "DB_PASSWORD=hunter2-hunter2\n", func(s string) string {
					return strings.Replace(s, `/backend:${VERSION:?VERSION is not set - set it in docker/.env.release, for example VERSION=1.2.3}"`, `/backend:${DB_PASSWORD}"`, 1)
				})
			}
			_, err := planOf(t, root, nil, "REGISTRY=127.0.0.1:9/site", "VERSION=1.2.3")
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("err = %v\nwant one line with %q", err, c.want)
			}
		})
	}
}

func TestBadDeclarationsAreRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(string) string
		want string
	}{
		{"a declared secret set nowhere", declare("backend", "MISSING_TOKEN"), "service backend declares MISSING_TOKEN in x-dtx.secrets, but no env file nor the process sets it: set it in docker/.env.release.local"},
		{"a stateful service with replicas", func(s string) string {
			return withDeclared(s, "redis", "replicas: 2")
		}, "service redis is stateful and runs once, on the node labelled dtx.data=true: drop x-dtx.replicas (2)"},
		{"a routed service with a folder of the checkout", func(s string) string {
			return strings.Replace(s, "\n  frontend:\n", "\n  frontend:\n    volumes: [\"./docker:/srv/docker\"]\n", 1)
		}, "service frontend bind-mounts the folder docker, which the swarm's nodes do not have"},
		{"a bind-mounted file that is missing", func(s string) string {
			return strings.Replace(s, "\n  frontend:\n", "\n  frontend:\n    volumes: [\"./robots.txt:/srv/robots.txt:ro\"]\n", 1)
		}, "robots.txt (bind-mounted into service frontend at /srv/robots.txt) is missing: restore it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := planOf(t, releaseRoot(t, "", c.edit), nil, "REGISTRY=127.0.0.1:9/site", "VERSION=1.2.3")
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v\nwant one line with %q", err, c.want)
			}
		})
	}
}

// docker stack deploy interpolates the stack file from its own
// environment: every $ of a value is doubled, so that the service gets the
// value itself.
func TestDollarsAreEscaped(t *testing.T) {
	p := mustPlan(t, releaseRoot(t, "", addEnv("backend", `PRICE: "$$5 and $${HOME}"`)))
	if got := envOf(t, parse(t, p), "backend")["PRICE"]; got != "$$5 and $${HOME}" {
		t.Errorf("PRICE is written %q, want $$5 and $${HOME}", got)
	}
}

func TestMissingPiecesAreNamed(t *testing.T) {
	root := releaseRoot(t, "")
	if err := os.Remove(filepath.Join(root, "nginx/default.template.conf")); err != nil {
		t.Fatal(err)
	}
	_, err := planOf(t, root, nil, "VERSION=1.2.3")
	if want := "nginx/default.template.conf (bind-mounted into service nginx at /etc/nginx/templates/default.conf.template) is missing: restore it"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want one naming %q", err, want)
	}
	if _, err := Make(Input{}); err == nil || !strings.Contains(err.Error(), "no compose project") {
		t.Errorf("no project: %v", err)
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

// Swarm takes names of 64 characters at most: a long label is cut, the
// hash kept.
func TestLongNamesFit(t *testing.T) {
	n := NewNamer([]byte(namesKey)).Name("dtxe2e1234567", label("A_VERY_LONG_VARIABLE_NAME_THAT_GOES_ON_AND_ON_AND_ON_FOR_EVER"), []byte("v"))
	if len(n) > maxName || !strings.HasPrefix(n, "dtxe2e1234567_a_very_long") {
		t.Errorf("name %q (%d characters)", n, len(n))
	}
}

// volumeAt is the source of the mount at target in a service's volumes.
func volumeAt(volumes any, target string) any {
	list, _ := volumes.([]any)
	for _, v := range list {
		if m, ok := v.(map[string]any); ok && m["target"] == target {
			return m["source"]
		}
	}
	return nil
}
