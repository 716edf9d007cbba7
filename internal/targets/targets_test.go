package targets

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/browsertest"
	"github.com/kettleofketchup/dtx_website/internal/images"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

var repoRoot, _ = filepath.Abs("../..")

// TestMain keeps the machine's docker plugins out of the plans: without
// buildx (HOME is not in the tests' environment either), builds run at log
// level error, on every machine alike.
func TestMain(m *testing.M) {
	images.SystemPluginDirs = nil
	os.Exit(m.Run())
}

// project copies the project's compose, env and nginx files into a temp
// root, with minimal Dockerfiles for frontend and backend and a spec in the
// default browser specs folder.
func project(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	var files []string
	for _, e := range stack.Environments {
		files = append(files, e.ComposeFile, e.EnvFile)
	}
	files = append(files, "nginx/Dockerfile", "nginx/default.template.conf")
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, root, f, string(data))
	}
	for _, d := range []string{"frontend", "backend"} {
		writeFile(t, root, d+"/Dockerfile", "FROM scratch AS runtime\nFROM runtime AS runtime-dev\n")
	}
	writeFile(t, root, "frontend/playwright.config.ts", "export default {};\n")
	writeFile(t, root, "frontend/tests/playwright/e2e/starter.spec.ts", "// a spec\n")
	writeFile(t, root, "test/browser/compose.yaml", "# the runner's build\n")
	return root
}

func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tree lists every file under root, to prove a run wrote nothing.
func tree(t *testing.T, root string) []string {
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		paths = append(paths, rel)
		return nil
	})
	sort.Strings(paths)
	return paths
}

func options(root string, dry bool, environ ...string) (*session.Session, *bytes.Buffer, *bytes.Buffer) {
	var out, log bytes.Buffer
	env := append([]string{"PATH=" + os.Getenv("PATH")}, environ...)
	return session.New(session.Config{Root: root, Environ: env, DryRun: dry, Stdout: &out, Stderr: &log}), &out, &log
}

const (
	debug   = "docker compose --project-name dtx-debug -f docker-compose.debug.yaml --env-file docker/.env.dev"
	test    = "docker compose --project-name dtx-test -f docker-compose.test.yaml --env-file docker/.env.test"
	prod    = "docker compose --project-name dtx-prod -f docker-compose.prod.yaml --env-file docker/.env.prod"
	release = "docker compose --project-name dtx-release -f docker-compose.release.yaml --env-file docker/.env.release"
	reg     = "ghcr.io/kettleofketchup/dtx_website"
	build   = "[dry-run] docker --log-level error compose --project-name dtx-build --project-directory . -f - build < (build definition of "
	// The tool's folders, then those the environment's compose file mounts writable.
	toolFolders  = "[dry-run] mkdir -p nginx/data/ssl nginx/data/certbot/www nginx/data/certbot/conf"
	debugFolders = toolFolders + " backend backend/.redis_data frontend"
	prodFolders  = toolFolders + " backend/.data backend/.redis_data"
	dataOwners   = "[dry-run] chown -R 10001:10001 backend/.data (the user backend runs as) where it is not theirs\n[dry-run] chown -R 999:999 backend/.redis_data (the user redis runs as) where it is not theirs"
	certbotDirs  = "--config-dir nginx/data/certbot/conf --work-dir nginx/data/certbot/work --logs-dir nginx/data/certbot/logs"
	// up passes the env override (names only) after the compose file.
	override = "[dry-run] write docker/.env.%s.compose.yaml: backend, frontend take %s from the project environment (the process over the env files), names only"
	devKeys  = "DEBUG, DOMAIN, HTTPS_PORT, HTTP_PORT, PUBLISH_ADDRESS"
	prodKeys = "CERTBOT_EMAIL, DEBUG, DOMAIN, HTTPS_PORT, HTTP_PORT, PUBLISH_ADDRESS, STAGING"
)

// withOverride is base (a compose command line) with the env override of
// env file suffix after the compose file.
func withOverride(base, suffix string) string {
	i := strings.Index(base, " --env-file ")
	return base[:i] + " -f docker/.env." + suffix + ".compose.yaml" + base[i:]
}

// commandLines keeps the printed commands of a dry run ([dry-run] lines),
// dropping the indented build definition.
func commandLines(log string) []string {
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "[dry-run] ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// Every target's dry run prints its exact commands, in order, and changes nothing.
func TestDryRunPlans(t *testing.T) {
	cases := []struct {
		name string
		run  func(context.Context, *session.Session) error
		want []string
	}{
		{"docker:build", func(c context.Context, o *session.Session) error { return Build(c, o, "") }, []string{build + "5 images)"}},
		{"docker:build -only", func(c context.Context, o *session.Session) error { return Build(c, o, "nginx,frontend") }, []string{build + "2 images)"}},
		{"docker:push", func(c context.Context, o *session.Session) error { return Push(c, o, "frontend") }, []string{
			"[dry-run] docker push " + reg + "/frontend:0.1.0", "[dry-run] docker push " + reg + "/frontend:latest"}},
		{"docker:pull", func(c context.Context, o *session.Session) error { return Pull(c, o, "backend-dev") }, []string{
			"[dry-run] docker pull " + reg + "/backend-dev:0.1.0", "[dry-run] docker pull " + reg + "/backend-dev:latest"}},
		{"dev:debug", func(c context.Context, o *session.Session) error { return Up(c, o, "debug", Built, true) }, []string{
			build + "3 images)", debugFolders, "[dry-run] generate a self-signed certificate for localhost, 127.0.0.1 in nginx/data/ssl/ if none is valid there",
			fmt.Sprintf(override, "dev", devKeys),
			"[dry-run] " + withOverride(debug, "dev") + " up --remove-orphans --menu=false"}},
		{"dev:test", func(c context.Context, o *session.Session) error { return Up(c, o, "test", Built, false) }, []string{
			build + "3 images)", toolFolders, "[dry-run] generate a self-signed certificate for localhost, 127.0.0.1 in nginx/data/ssl/ if none is valid there",
			fmt.Sprintf(override, "test", devKeys),
			"[dry-run] " + withOverride(test, "test") + " up --detach --wait --wait-timeout 120 --remove-orphans"}},
		{"dev:prod", func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Built, false) }, []string{
			build + "3 images)", prodFolders, "[dry-run] generate a self-signed certificate for dota.kettle.sh, www.dota.kettle.sh, localhost, 127.0.0.1 in nginx/data/ssl/ if none is valid there",
			dataOwners,
			fmt.Sprintf(override, "prod", prodKeys),
			"[dry-run] " + withOverride(prod, "prod") + " up --detach --wait --wait-timeout 120 --remove-orphans"}},
		{"dev:release", func(c context.Context, o *session.Session) error { return Up(c, o, "release", Pulled, false) }, []string{
			"[dry-run] docker pull " + reg + "/backend:0.1.0", "[dry-run] docker pull " + reg + "/frontend:0.1.0", "[dry-run] docker pull " + reg + "/nginx:0.1.0",
			prodFolders, "[dry-run] generate a self-signed certificate for dota.kettle.sh, www.dota.kettle.sh, localhost, 127.0.0.1 in nginx/data/ssl/ if none is valid there",
			dataOwners,
			fmt.Sprintf(override, "release", prodKeys+", VERSION"),
			"[dry-run] " + withOverride(release, "release") + " up --detach --wait --wait-timeout 120 --remove-orphans"}},
		{"stack:up", func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) }, []string{
			prodFolders, "[dry-run] generate a self-signed certificate for dota.kettle.sh, www.dota.kettle.sh, localhost, 127.0.0.1 in nginx/data/ssl/ if none is valid there",
			dataOwners,
			fmt.Sprintf(override, "prod", prodKeys),
			"[dry-run] " + withOverride(prod, "prod") + " up --detach --wait --wait-timeout 120 --remove-orphans"}},
		// The browser tests' own plan is tested in internal/browsertest: here,
		// that the entry point starts the stack with the dev images built.
		{"test:e2e", func(c context.Context, o *session.Session) error { return E2E(c, o, browsertest.Options{Shard: "1/2"}) }, []string{
			"[dry-run] REGISTRY=" + reg + " docker compose -f test/browser/compose.yaml build",
			build + "3 images)", toolFolders, "[dry-run] generate a self-signed certificate for localhost, 127.0.0.1 in nginx/data/ssl/ if none is valid there",
			fmt.Sprintf(override, "test", devKeys),
			"[dry-run] " + withOverride(test, "test") + " up --detach --wait --wait-timeout 120 --remove-orphans",
			"[dry-run] docker create --name dtx-test-e2e-runner --label com.docker.compose.project=dtx-test --network dtx-test_test-network --init --workdir /e2e --env E2E_BASE_URL=https://nginx:8443 --env E2E_RESULTS=/e2e/e2e-results --env PLAYWRIGHT_BASE_URL=https://nginx:8443 --env PLAYWRIGHT_HTML_OPEN=never --env E2E_SHARD=1/2 " + reg + "/playwright-runner:latest playwright test --config=playwright.dtx.config.ts --shard=1/2",
			"[dry-run] docker cp - dtx-test-e2e-runner:/e2e < (frontend/ as a tar: without node_modules, .git, test-results, playwright-report, blob-report; with playwright.dtx.config.ts)",
			"[dry-run] docker start --attach dtx-test-e2e-runner",
			"[dry-run] remove test-results/e2e/ (the previous run's results)",
			"[dry-run] docker cp dtx-test-e2e-runner:/e2e/e2e-results - > test-results/e2e/ (files and folders only: links are dropped)",
			"[dry-run] docker rm --force dtx-test-e2e-runner",
			"[dry-run] " + withOverride(test, "test") + " down --remove-orphans"}},
		{"stack:down", func(c context.Context, o *session.Session) error { return Down(c, o, "test") }, []string{"[dry-run] " + test + " down --remove-orphans"}},
		{"stack:logs", func(c context.Context, o *session.Session) error { return Logs(c, o, "debug") }, []string{"[dry-run] " + debug + " logs --follow --tail 200"}},
		{"stack:ps", func(c context.Context, o *session.Session) error { return Ps(c, o, "release") }, []string{"[dry-run] " + release + " ps"}},
		{"stack:exec", func(c context.Context, o *session.Session) error {
			return Exec(c, o, "debug", "backend", "python manage.py migrate")
		}, []string{
			"[dry-run] " + debug + " exec -T backend python manage.py migrate"}},
		{"stack:exec with quotes", func(c context.Context, o *session.Session) error {
			return Exec(c, o, "debug", "backend", `python manage.py shell -c "print('a b')"`)
		}, []string{
			"[dry-run] " + debug + ` exec -T backend python manage.py shell -c 'print('\''a b'\'')'`}},
		{"stack:run", func(c context.Context, o *session.Session) error {
			return Run(c, o, "prod", "backend", "python manage.py migrate")
		}, []string{
			fmt.Sprintf(override, "prod", prodKeys),
			"[dry-run] " + withOverride(prod, "prod") + " run --rm -T backend python manage.py migrate"}},
		{"stack:restart", func(c context.Context, o *session.Session) error { return Restart(c, o, "prod", "") }, []string{"[dry-run] " + prod + " restart"}},
		{"stack:restart -service", func(c context.Context, o *session.Session) error { return Restart(c, o, "prod", "backend") }, []string{"[dry-run] " + prod + " restart backend"}},
		{"stack:stop -service", func(c context.Context, o *session.Session) error { return Stop(c, o, "debug", "redis") }, []string{"[dry-run] " + debug + " stop redis"}},
		{"stack:pull", func(c context.Context, o *session.Session) error { return StackPull(c, o, "release") }, []string{"[dry-run] " + release + " pull"}},
		{"stack:top", func(c context.Context, o *session.Session) error { return Top(c, o, "test") }, []string{"[dry-run] " + test + " top"}},
		{"stack:build", func(c context.Context, o *session.Session) error { return StackBuild(c, o, "debug") }, []string{build + "3 images)"}},
		{"prod:certbot", Certbot, []string{
			"[dry-run] mkdir -p nginx/data/certbot/conf nginx/data/certbot/work nginx/data/certbot/logs nginx/data/certbot/www",
			"[dry-run] certbot certonly --webroot --webroot-path nginx/data/certbot/www --cert-name dota.kettle.sh -d dota.kettle.sh -d www.dota.kettle.sh " + certbotDirs + " --non-interactive --agree-tos --register-unsafely-without-email --keep-until-expiring",
			"[dry-run] " + prod + " exec -T nginx dtx-nginx reload"}},
		{"prod:renew", Renew, []string{
			"[dry-run] certbot renew " + certbotDirs + " --non-interactive --no-random-sleep-on-renew",
			"[dry-run] then, only if a certificate changed:",
			"[dry-run] " + prod + " exec -T nginx dtx-nginx reload"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := project(t)
			before := tree(t, root)
			// No docker on PATH: a dry run must not need one.
			o, _, log := options(root, true)
			o.Environ = []string{"PATH=/nonexistent"}
			if err := c.run(context.Background(), o); err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			got := commandLines(log.String())
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if after := tree(t, root); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Fatalf("dry run changed files: %v", after)
			}
		})
	}
}

// The dry run of a build shows the definition it would feed compose.
func TestDryRunBuildShowsDefinition(t *testing.T) {
	o, _, log := options(project(t), true, "NGINX_BASE_IMAGE=debian-nginx:1", "REGISTRY=127.0.0.1:5000/dtx")
	if err := Build(context.Background(), o, "nginx"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"image": "127.0.0.1:5000/dtx/nginx:0.1.0"`, `"127.0.0.1:5000/dtx/nginx:latest"`, `"NGINX_BASE_IMAGE": "debian-nginx:1"`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("dry run lacks %s:\n%s", want, log)
		}
	}
}

// CACHE_FROM=registry, from the env file as from the process, makes the
// build take its cache from the registry's latest images; every build
// exports its cache inline.
func TestDryRunBuildCache(t *testing.T) {
	for _, c := range []struct {
		name     string
		envFile  string
		environ  []string
		wantFrom bool
	}{
		{name: "unset: inline cache only"},
		{name: "from the process", environ: []string{"CACHE_FROM=registry"}, wantFrom: true},
		{name: "from docker/.env.release.local", envFile: "CACHE_FROM=registry\n", wantFrom: true},
		{name: "the process wins over the file", envFile: "CACHE_FROM=registry\n", environ: []string{"CACHE_FROM="}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := project(t)
			if c.envFile != "" {
				writeFile(t, root, "docker/.env.release.local", c.envFile)
			}
			o, _, log := options(root, true, append([]string{"REGISTRY=127.0.0.1:5000/dtx"}, c.environ...)...)
			if err := Build(context.Background(), o, "nginx"); err != nil {
				t.Fatal(err)
			}
			def := strings.Join(strings.Fields(log.String()), "")
			if !strings.Contains(def, `"cache_to":["type=inline"]`) {
				t.Errorf("the definition exports no inline cache:\n%s", log)
			}
			if got := strings.Contains(def, `"cache_from":["127.0.0.1:5000/dtx/nginx:latest"]`); got != c.wantFrom {
				t.Errorf("cache_from in the definition: %v, want %v:\n%s", got, c.wantFrom, log)
			}
		})
	}
}

// Secrets never reach the printed plan: values of .local files and of
// secret-named variables are masked.
func TestDryRunMasksSecrets(t *testing.T) {
	root := project(t)
	writeFile(t, root, "docker/.env.prod.local", "CERTBOT_EMAIL=owner-private@example.com\nDJANGO_SECRET_KEY=kq9-very-secret\n")
	o, _, log := options(root, true, "ACME_SERVER=https://acme.example/dir?token=kq9-very-secret")
	if err := Certbot(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"owner-private@example.com", "kq9-very-secret"} {
		if strings.Contains(log.String(), secret) {
			t.Fatalf("printed secret %q:\n%s", secret, log)
		}
	}
	if !strings.Contains(log.String(), "--email **** ") || !strings.Contains(log.String(), "--env-file docker/.env.prod.local") {
		t.Fatalf("plan:\n%s", log)
	}
}

// dev:debug says where the site is and how to stop it before the logs start.
func TestDevDebugSaysWhereTheSiteIs(t *testing.T) {
	for _, c := range []struct{ port, url string }{{"", "https://localhost/"}, {"443", "https://localhost/"}, {"8443", "https://localhost:8443/"}} {
		t.Run("HTTPS_PORT="+c.port, func(t *testing.T) {
			o, _, log := options(project(t), true, "HTTPS_PORT="+c.port)
			if err := Up(context.Background(), o, "debug", Built, true); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(log.String(), "\n")
			banner := slices.IndexFunc(lines, func(l string) bool {
				return strings.Contains(l, "the site will be at "+c.url) && strings.Contains(l, "Ctrl-C stops")
			})
			up := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, " up --remove-orphans") })
			if banner < 0 || up < banner {
				t.Fatalf("want the URL %s and how to stop before compose up:\n%s", c.url, log)
			}
		})
	}
}

// A dry run of ps, logs or down runs nothing, so it checks the compose
// file itself: a missing variable is said, not printed past.
func TestDryRunReadOnlyVerbsCheckTheComposeFile(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(context.Context, *session.Session) error
	}{
		{"stack:ps", func(c context.Context, o *session.Session) error { return Ps(c, o, "release") }},
		{"stack:down", func(c context.Context, o *session.Session) error { return Down(c, o, "release") }},
		{"stack:logs", func(c context.Context, o *session.Session) error { return Logs(c, o, "release") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := project(t)
			writeFile(t, root, "docker/.env.release", "DOMAIN=x.example\n")
			o, _, log := options(root, true)
			err := c.run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), "required variable VERSION is missing a value") {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(log.String(), "[dry-run] docker") {
				t.Fatalf("printed a command despite the bad file:\n%s", log)
			}
		})
	}
}
