package roles

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const registry = "reg.example/site"

func builtHere(image string) bool { return strings.HasPrefix(image, registry+"/") }

// load loads compose YAML with compose-go, as the tool loads its files.
func load(t *testing.T, yaml string, environ ...string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithName("t"), cli.WithWorkingDirectory(dir),
		cli.WithEnv(append([]string{"REGISTRY=" + registry, "VERSION=1.0.0"}, environ...)), cli.WithInterpolation(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The starter's shape: the proxy publishes 80 and 443 and names frontend
// and backend in its environment; redis is on an image the project does
// not build.
const starter = `
services:
  frontend:
    image: ${REGISTRY}/frontend:${VERSION}
  backend:
    image: ${REGISTRY}/backend:${VERSION}
  redis:
    image: redis:8.2.1-alpine
    volumes: ["./data:/data"]
  nginx:
    image: ${REGISTRY}/nginx:${VERSION}
    environment:
      DOMAIN: example.com
      FRONTEND_UPSTREAM: frontend:3000
      BACKEND_UPSTREAM: backend:8000
      PUBLIC_HTTPS_PORT: "443"
    ports: ["80:80", "443:443"]
`

// The website's shape: three more services on the backend image, without
// ports; the scheduler must never run twice.
const website = starter + `
  celery-worker:
    image: ${REGISTRY}/backend:${VERSION}
    entrypoint: ["celery"]
    command: ["-A", "config", "worker"]
  celery-beat:
    image: ${REGISTRY}/backend:${VERSION}
    command: ["celery", "-A", "config", "beat"]
    x-dtx:
      update: stop-first
  discord-bot:
    image: ${REGISTRY}/backend:${VERSION}
    command: ["python", "manage.py", "run_discord_bot"]
`

func TestDeriveByShape(t *testing.T) {
	for _, c := range []struct {
		name string
		yaml string
		want map[string]string // service -> "role update upstream:port replicas"
	}{
		{"starter", starter, map[string]string{
			"backend":  "routed start-first BACKEND_UPSTREAM:8000 2",
			"frontend": "routed start-first FRONTEND_UPSTREAM:3000 2",
			"nginx":    "proxy stop-first : 1",
			"redis":    "stateful stop-first : 1",
		}},
		{"website", website, map[string]string{
			"backend":       "routed start-first BACKEND_UPSTREAM:8000 2",
			"frontend":      "routed start-first FRONTEND_UPSTREAM:3000 2",
			"nginx":         "proxy stop-first : 1",
			"redis":         "stateful stop-first : 1",
			"celery-worker": "worker start-first : 1",
			"celery-beat":   "worker stop-first : 1",
			"discord-bot":   "worker start-first : 1",
		}},
		{"declared over shape", starter + `
  api:
    image: ${REGISTRY}/backend:${VERSION}
    x-dtx: {role: routed, upstream: API, replicas: 3}
  cache:
    image: ${REGISTRY}/cache:${VERSION}
    x-dtx: {role: stateful}
`, map[string]string{
			"api":   "routed start-first API: 3", // the proxy's environment has no API: refused below
			"cache": "stateful stop-first : 1",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			site, err := Derive(load(t, c.yaml), "compose.yaml", builtHere)
			if c.name == "declared over shape" {
				if err == nil || !strings.Contains(err.Error(), "service api is routed, but the proxy's environment names it nowhere") {
					t.Fatalf("err = %v", err)
				}
				site, err = Derive(load(t, strings.Replace(c.yaml, "PUBLIC_HTTPS_PORT", "API: backend:9000\n      PUBLIC_HTTPS_PORT", 1)), "compose.yaml", builtHere)
				c.want["api"] = "routed start-first API:9000 3"
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range c.want {
				s, ok := site.Get(name)
				if !ok {
					t.Fatalf("no service %s", name)
				}
				got := strings.Join([]string{string(s.Role), string(s.Update), s.Upstream + ":" + s.Port, strconv.Itoa(s.Replicas)}, " ")
				if got != want {
					t.Errorf("%s: %s, want %s", name, got, want)
				}
			}
		})
	}
}

func TestReplacedByADeploy(t *testing.T) {
	site, err := Derive(load(t, website), "compose.yaml", builtHere)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(Names(site.Replaced()), ",")
	want := "backend,frontend,celery-beat,celery-worker,discord-bot,nginx"
	if got != want {
		t.Fatalf("replaced %s, want %s", got, want)
	}
	if p, ok := site.Proxy(); !ok || p.Name != "nginx" {
		t.Fatalf("proxy %v %v", p, ok)
	}
}

func TestBadDeclarations(t *testing.T) {
	for _, c := range []struct{ name, extra, want string }{
		{"unknown role", "x-dtx: {role: sheduler}", `compose.yaml: service extra: x-dtx.role "sheduler": use one of proxy, routed, worker, stateful`},
		{"unknown key", "x-dtx: {roles: worker}", `compose.yaml: service extra: x-dtx has no key "roles": it takes role, update, upstream, replicas, secrets, pre-deploy and data`},
		{"secrets not a list", "x-dtx: {secrets: DB_PASSWORD}", `x-dtx.secrets must be a list of variable names, e.g. [DB_PASSWORD], not "DB_PASSWORD"`},
		{"a secret that is no variable name", "x-dtx: {secrets: [DB_PASSWORD, \"db password\"]}", `x-dtx.secrets: "db password" is not a variable name`},
		{"a secret that is no string", "x-dtx: {secrets: [{a: b}]}", `x-dtx.secrets: "map[a:b]" is not a variable name`},
		{"a secret named twice", "x-dtx: {secrets: [DB_PASSWORD, DB_PASSWORD]}", "x-dtx.secrets names DB_PASSWORD twice"},
		{"pre-deploy not a boolean", "x-dtx: {pre-deploy: yes please}", `x-dtx.pre-deploy "yes please": use true`},
		{"bad update", "x-dtx: {update: rolling}", `x-dtx.update "rolling": use start-first or stop-first`},
		{"not a mapping", "x-dtx: worker", "x-dtx must be a mapping"},
		{"bad replicas", "x-dtx: {replicas: 0}", `x-dtx.replicas "0": use a number from 1 to 100`},
		{"routed stop-first", "x-dtx: {role: routed, update: stop-first, upstream: BACKEND_UPSTREAM}", "service extra is routed and cannot update stop-first"},
		{"stateful start-first", "x-dtx: {role: stateful, update: start-first}", "service extra is stateful and cannot update start-first: two would write the same data"},
		{"a second proxy declared", "x-dtx: {role: proxy}", ""},
		{"a second service publishing", `ports: ["8443:443"]`, "-"},
		{"two proxies by shape", "ports: [\"8443:443\"]\n    environment: {UP: \"backend:8000\"}", "services extra, nginx all publish ports and route to other services: declare the proxy with x-dtx: {role: proxy}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			yaml := starter + "  extra:\n    image: ${REGISTRY}/extra:${VERSION}\n    " + c.extra + "\n"
			site, err := Derive(load(t, yaml), "compose.yaml", builtHere)
			if c.want == "-" {
				// Only nginx routes to other services: it is the proxy, and
				// extra a worker that publishes a port.
				if err != nil {
					t.Fatal(err)
				}
				if p, _ := site.Proxy(); p.Name != "nginx" {
					t.Fatalf("proxy %s, want nginx", p.Name)
				}
				return
			}
			if c.want == "" {
				// A declared proxy wins over the one that publishes ports:
				// nginx is then an ordinary service that publishes ports.
				if err != nil {
					t.Fatal(err)
				}
				if p, _ := site.Proxy(); p.Name != "extra" {
					t.Fatalf("proxy %s, want extra", p.Name)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant %s", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("not one line: %q", err)
			}
		})
	}
}

// The project's own release compose file, loaded as the tool loads it,
// gives the starter's roles: the defaults make the starter work as before.
func TestTheProjectsReleaseStack(t *testing.T) {
	root := filepath.Join("..", "..")
	file := filepath.Join(root, "docker-compose.release.yaml")
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithName("t"), cli.WithWorkingDirectory(root),
		cli.WithEnvFiles(filepath.Join(root, "docker/.env.release")), cli.WithDotEnv,
		cli.WithEnv([]string{"REGISTRY=" + registry}), cli.WithInterpolation(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	site, err := Derive(p, "docker-compose.release.yaml", builtHere)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range site.Services {
		got = append(got, s.Name+"="+string(s.Role))
	}
	if g := strings.Join(got, " "); g != "backend=routed frontend=routed nginx=proxy redis=stateful" {
		t.Fatalf("roles: %s", g)
	}
}

// x-dtx.secrets names the variables a service uses, sorted; a service
// that declares none has none.
func TestDeclaredSecrets(t *testing.T) {
	site, err := Derive(load(t, website+`
    x-dtx:
      secrets: [DISCORD_TOKEN, DATABASE_URL]
`), "compose.yaml", builtHere)
	if err != nil {
		t.Fatal(err)
	}
	bot, _ := site.Get("discord-bot")
	if got := strings.Join(bot.Secrets, ","); got != "DATABASE_URL,DISCORD_TOKEN" {
		t.Errorf("discord-bot's secrets: %s", got)
	}
	if bot.Role != Worker {
		t.Errorf("declaring secrets changed the role: %s", bot.Role)
	}
	if be, _ := site.Get("backend"); be.Secrets != nil {
		t.Errorf("backend declares no secret, has %v", be.Secrets)
	}
}

// x-dtx.pre-deploy marks the service whose new image runs PRE_DEPLOY; the
// others are not marked.
func TestDeclaredPreDeploy(t *testing.T) {
	site, err := Derive(load(t, website+`
    x-dtx:
      pre-deploy: true
`), "compose.yaml", builtHere)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range site.Services {
		if s.PreDeploy != (s.Name == "discord-bot") {
			t.Errorf("%s: PreDeploy %v", s.Name, s.PreDeploy)
		}
	}
	if bot, _ := site.Get("discord-bot"); bot.Role != Worker {
		t.Errorf("declaring pre-deploy changed the role: %s", bot.Role)
	}
}
