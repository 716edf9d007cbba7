package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/certs"
)

// swarmWorkers are what the test adds to the copy's release compose file: a
// worker and a scheduler on the backend image, with entrypoints of their
// own and no ports, the scheduler stop-first (x-dtx), as the website's
// celery worker and beat are. No code of the tool names them.
const swarmWorkers = `
  worker:
    image: "${REGISTRY}/backend:${VERSION}"
    <<: [*app, *hardened]
    entrypoint: ["python3", "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); time.sleep(1e9)"]
    command: ["worker"]
    healthcheck: {disable: true}
  beat:
    image: "${REGISTRY}/backend:${VERSION}"
    <<: [*app, *hardened]
    entrypoint: ["python3", "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); time.sleep(1e9)"]
    command: ["beat"]
    healthcheck: {disable: true}
    x-dtx: {update: stop-first}
`

// useRedisStandIn gives the site, when it runs on the stand-in base
// (REDIS_IMAGE set), a redis image of the engine DOCKER_HOST names with
// the /data the official image has, owned by redis (999), which a new
// volume copies: the stand-in base has none.
func useRedisStandIn(t *testing.T, s *site) {
	t.Helper()
	base := os.Getenv("REDIS_IMAGE")
	if base == "" {
		return
	}
	img := s.prefix + "-redis:test"
	build := exec.Command("docker", "build", "-q", "-t", img, "-")
	build.Stdin = strings.NewReader("FROM " + base + "\nRUN mkdir -p /data && chown 999:999 /data\n")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("redis stand-in: %v\n%s", err, out)
	}
	s.vars["REDIS_IMAGE"] = img
	t.Cleanup(func() { exec.Command("docker", "rmi", img).Run() })
}

// stackServices are the services of the test's stack.
var stackServices = []string{"backend", "beat", "bot", "frontend", "nginx", "redis", "worker"}

// TestSwarm deploys the release stack, with a worker and a stop-first
// scheduler added to its compose file and the bot (an image of its own,
// built from the repository root with an additional build context; see
// addBot) added to the compose files, to a single-node swarm of the engine
// under a steady stream of HTTPS requests: v1, a rolling update to v2, a
// broken v3 that Swarm rolls back (and the tool with it every other
// service), then v1 again through DOCKER_HOST=ssh://. Not one request may
// fail; every service converges at each version; no secret value is in
// docker service inspect, in the stack files or in the output.
//
// Run it on an engine of its own (docs/swarm.md: it makes the engine a
// swarm, which breaks the DNS of compose stacks running beside it).
func TestSwarm(t *testing.T) {
	requireEngine(t)
	s := newSite(t)
	t.Cleanup(s.cleanup)
	// Last of all, after the swarm is left (its task containers go with
	// it): the stack's volumes, which swarm:rm keeps on purpose.
	t.Cleanup(func() {
		for i := 0; i < 30; i++ {
			vols, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+s.prefix).Output()
			left := strings.Fields(string(vols))
			for _, v := range left {
				exec.Command("docker", "volume", "rm", v).Run()
			}
			if len(left) == 0 {
				return
			}
			time.Sleep(time.Second)
		}
		t.Logf("cleanup: volumes of %s still there after 30 s", s.prefix)
	})
	ensureSwarm(t)
	httpPort, httpsPort := freePort(t), freePort(t)
	s.vars["HTTP_PORT"], s.vars["HTTPS_PORT"] = httpPort, httpsPort
	useRedisStandIn(t, s)
	// The secrets: a key backend declares, a password only the URL built
	// from it in backend's environment: holds (quotes, # and $ in it), and
	// a setting of nginx's, which reaches it as a file.
	// backend already has an x-dtx (its data): the secret joins it, since
	// a second x-dtx key is a YAML error.
	compose := filepath.Join(s.root, "docker-compose.release.yaml")
	text, _ := os.ReadFile(compose)
	const backendData = "    x-dtx:\n      data: [{path: /app/data/db.sqlite3, kind: sqlite}]\n"
	if !strings.Contains(string(text), backendData) {
		t.Fatalf("docker-compose.release.yaml has no %q: update the test", backendData)
	}
	edited := strings.Replace(string(text), "\n  backend:\n", "\n  backend:\n    environment:\n      DATABASE_URL: \"postgres://app:${DB_PASSWORD}@db/app\"\n", 1)
	edited = strings.Replace(edited, backendData, backendData+"      secrets: [DJANGO_SECRET_KEY]\n", 1) + swarmWorkers
	if err := os.WriteFile(compose, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	s.addBot(t)
	secrets := []string{"swarm-secret-" + randomHex(t), `pw"#$` + randomHex(t), "swarm-secret-" + randomHex(t), "swarm-secret-" + randomHex(t)}
	secret, password := secrets[0], secrets[1]
	var current string // the key the .local file holds now
	setLocal := func(key string) {
		current = key
		local := "DJANGO_SECRET_KEY=" + key + "\nDB_PASSWORD='" + password + "'\nHSTS_HEADER=max-age=600\n"
		if err := os.WriteFile(filepath.Join(s.root, "docker/.env.release.local"), []byte(local), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setLocal(secret)
	// Every stack file given to docker stack deploy, kept by a docker of
	// the test's own first on PATH.
	stackFiles := filepath.Join(t.TempDir(), "stack-files")
	keeper := keepStackFiles(t, stackFiles)
	t.Cleanup(func() {
		if out, err := s.mage(nil, "swarm:rm"); err != nil {
			t.Logf("cleanup: swarm:rm: %v\n%s", err, out)
		}
	})

	base := s.vars["VERSION"]
	v1, v2, v3 := base+"-v1", base+"-v2", base+"-v3"
	var outputs []string
	release := func(t *testing.T, version, page string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(s.root, "frontend/public/version.txt"), []byte(page+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		s.setBotRelease(t, page) // a new bot image for each new page
		outputs = append(outputs, mustMageT(t, s, []string{"VERSION=" + version}, "docker:build", "-only=frontend,backend,nginx,bot"))
		outputs = append(outputs, mustMageT(t, s, []string{"VERSION=" + version}, "docker:push", "-only=frontend,backend,nginx,bot"))
	}
	release(t, v1, "v1")
	release(t, v2, "v2")

	out := s.mustMage([]string{"VERSION=" + v1, keeper}, "swarm:deploy")
	outputs = append(outputs, out)
	convergedAt(t, s.prefix, v1)
	c := client(t, httpPort, httpsPort, filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"))
	eventually(t, 60*time.Second, "v1 answers", func() error { return expect(c, "v1") })
	if hsts := header(t, c, "Strict-Transport-Security"); hsts != "max-age=600" {
		t.Errorf("nginx sends HSTS %q, want the .local file's max-age=600 (read from HSTS_HEADER_FILE)", hsts)
	}
	v1Secrets := secretNames(t, s.prefix+"_backend")

	load := startLoad(c, "https://dtx.test/")
	t.Cleanup(load.stop)

	t.Run("update to v2 without a failed request", func(t *testing.T) {
		before := load.snapshot()
		start := time.Now()
		setLocal(secrets[2]) // a new key: a new secret; the password keeps its own
		out := mustMageT(t, s, []string{"VERSION=" + v2, keeper}, "swarm:deploy")
		outputs = append(outputs, out)
		t.Logf("v1 -> v2 took %s", time.Since(start).Round(time.Second))
		for _, want := range []string{s.prefix + "_frontend: updated to version " + v2, s.prefix + "_nginx: running",
			s.prefix + "_worker: updated to version " + v2, s.prefix + "_beat: updated to version " + v2, s.prefix + "_bot: updated to version " + v2} {
			if !strings.Contains(out, want) {
				t.Errorf("swarm:deploy did not say %q:\n%s", want, out)
			}
		}
		convergedAt(t, s.prefix, v2)
		if order := docker(t, "service", "inspect", "--format", "{{.Spec.UpdateConfig.Order}} {{.Spec.RollbackConfig.Order}}", s.prefix+"_beat"); order != "stop-first stop-first" {
			t.Errorf("beat updates and rolls back %s, want stop-first (x-dtx.update)", order)
		}
		v2Secrets := secretNames(t, s.prefix+"_backend")
		if v1Secrets["DATABASE_URL"] == "" || v2Secrets["DATABASE_URL"] != v1Secrets["DATABASE_URL"] {
			t.Errorf("an unchanged value got a new secret: %v -> %v", v1Secrets, v2Secrets)
		}
		if v2Secrets["DJANGO_SECRET_KEY"] == v1Secrets["DJANGO_SECRET_KEY"] {
			t.Errorf("a new value kept its secret's name: %v", v2Secrets)
		}
		if err := expect(c, "v2"); err != nil {
			t.Errorf("after the update: %v", err)
		}
		load.check(t, before)
	})

	t.Run("broken v3 rolls back to v2 without a failed request", func(t *testing.T) {
		// v3's backend never becomes healthy; its frontend is v2's page.
		dockerfile := filepath.Join(s.root, "backend/Dockerfile")
		good, _ := os.ReadFile(dockerfile)
		broken := string(good) + "\nHEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD [\"false\"]\n"
		if err := os.WriteFile(dockerfile, []byte(broken), 0o644); err != nil {
			t.Fatal(err)
		}
		release(t, v3, "v2")
		_ = os.WriteFile(dockerfile, good, 0o644)
		before := load.snapshot()
		start := time.Now()
		out, err := s.mage([]string{"VERSION=" + v3, keeper}, "swarm:deploy")
		outputs = append(outputs, out)
		t.Logf("v3 and its rollback took %s", time.Since(start).Round(time.Second))
		if err == nil {
			t.Fatalf("swarm:deploy of the broken v3 succeeded:\n%s", out)
		}
		last := finalLine(out)
		if !strings.Contains(last, s.prefix+"_backend rolled back: update rolled back due to") || !strings.Contains(last, "task ") {
			t.Errorf("the last line does not say that backend rolled back and why:\n%s", out)
		}
		t.Logf("the reason given: %s", last)
		// The release stays whole: every service is back at v2.
		convergedAt(t, s.prefix, v2)
		if err := expect(c, "v2"); err != nil {
			t.Errorf("after the rollback: %v", err)
		}
		load.check(t, before)
	})

	t.Run("the whole deploy through DOCKER_HOST=ssh://", func(t *testing.T) {
		host := startSSHD(t)
		before := load.snapshot()
		setLocal(secrets[3])
		out := mustMageT(t, s, []string{"VERSION=" + v1, "DOCKER_HOST=" + host.url, "PATH=" + host.path}, "swarm:deploy")
		outputs = append(outputs, out)
		if !strings.Contains(out, s.prefix+"_frontend: updated to version "+v1) {
			t.Errorf("swarm:deploy through ssh did not update frontend:\n%s", out)
		}
		convergedAt(t, s.prefix, v1)
		// The prune: v1's key is used by no spec now, v2's is the
		// rollback target.
		left := docker(t, "secret", "ls", "--format", "{{.Name}}")
		if strings.Contains(left, v1Secrets["DJANGO_SECRET_KEY"]) {
			t.Errorf("the secret of v1's key (%s) is still there:\n%s", v1Secrets["DJANGO_SECRET_KEY"], left)
		}
		if prev := docker(t, "service", "inspect", "--format", "{{range .PreviousSpec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}} {{end}}", s.prefix+"_backend"); !containsAll(left, strings.Fields(prev)) {
			t.Errorf("a secret of the rollback target is gone: %s\n%s", prev, left)
		}
		if err := expect(c, "v1"); err != nil {
			t.Errorf("after the deploy through ssh: %v", err)
		}
		ps := mustMageT(t, s, []string{"DOCKER_HOST=" + host.url, "PATH=" + host.path}, "swarm:ps")
		outputs = append(outputs, ps)
		if !strings.Contains(ps, s.prefix+"_frontend "+v1+" completed") {
			t.Errorf("swarm:ps through ssh does not show frontend at %s:\n%s", v1, ps)
		}
		rb := mustMageT(t, s, []string{"DOCKER_HOST=" + host.url, "PATH=" + host.path}, "swarm:rollback")
		outputs = append(outputs, rb)
		if err := expect(c, "v2"); err != nil {
			t.Errorf("after swarm:rollback: %v\n%s", err, rb)
		}
		convergedAt(t, s.prefix, v2)
		load.check(t, before)
	})

	load.stop() // the next step changes nginx's certificate: the load trusts the self-signed one
	t.Run("certificate from Pebble, rotated into nginx", func(t *testing.T) {
		pebbleDir(t)
		a := startACME(t, httpPort)
		env := append(a.env(), "STACK=swarm", "VERSION="+v2)
		start := time.Now()
		out := mustMageT(t, s, env, "prod:certbot")
		outputs = append(outputs, out)
		t.Logf("issue and rotation took %s", time.Since(start).Round(time.Second))
		if !strings.Contains(out, "no certificate yet for dtx.test") || !strings.Contains(out, "--manual-auth-hook") {
			t.Errorf("output:\n%s", out)
		}
		cert, err := certs.Read(filepath.Join(s.root, "nginx/data/certbot/conf/live/dtx.test/fullchain.pem"))
		if err != nil {
			t.Fatal(err)
		}
		roots := a.root(t)
		for _, name := range []string{"dtx.test", "www.dtx.test"} {
			if got := served(t, httpsPort, name, roots); got.SerialNumber.Cmp(cert.SerialNumber) != 0 {
				t.Errorf("nginx serves serial %s to %s, want the new %s", got.SerialNumber, name, cert.SerialNumber)
			}
		}
		again := mustMageT(t, s, env, "prod:certbot")
		outputs = append(outputs, again)
		if !strings.Contains(again, "nothing to do") || strings.Contains(again, "+ certbot") {
			t.Errorf("a valid certificate must be kept without calling certbot:\n%s", again)
		}
	})

	t.Run("no secret value anywhere", func(t *testing.T) {
		key, _ := os.ReadFile(filepath.Join(s.root, "nginx/data/ssl/privkey.pem"))
		keyBody := strings.Split(strings.TrimSpace(string(key)), "\n")[1]
		inspect := docker(t, append([]string{"service", "inspect"}, serviceNames(s.prefix)...)...)
		files, _ := os.ReadFile(stackFiles)
		if !strings.Contains(string(files), "DATABASE_URL_FILE") {
			t.Errorf("no stack file was kept (%d bytes)", len(files))
		}
		texts := map[string]string{"docker service inspect": inspect, "the targets' output": strings.Join(outputs, "\n"), "the stack files": string(files)}
		for name, text := range texts {
			values := map[string]string{"the private key": keyBody, "DB_PASSWORD": password, "DB_PASSWORD, escaped": strings.ReplaceAll(password, "$", "$$")}
			for i, v := range secrets {
				values[fmt.Sprintf("secret %d", i)] = v
			}
			for what, v := range values {
				if strings.Contains(text, v) {
					t.Errorf("%s shows %s", name, what)
				}
			}
		}
		for _, want := range []string{"DJANGO_SECRET_KEY_FILE=/run/secrets/DJANGO_SECRET_KEY", "DATABASE_URL_FILE=/run/secrets/DATABASE_URL", "HSTS_HEADER_FILE=/run/secrets/HSTS_HEADER"} {
			if !strings.Contains(inspect, want) {
				t.Errorf("no service gets %s", want)
			}
		}
		if got := docker(t, "service", "inspect", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}", s.prefix+"_frontend"); strings.Contains(got, "DJANGO_SECRET_KEY") {
			t.Errorf("frontend, which declares no secret, gets the key: %s", got)
		}
		// The secrets reach the app as files, the URL with the password in it.
		id := strings.Fields(docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+s.prefix+"_backend"))[0]
		if got := docker(t, "exec", id, "cat", "/run/secrets/DJANGO_SECRET_KEY"); got != current {
			t.Errorf("/run/secrets/DJANGO_SECRET_KEY in backend holds %d bytes, not the .local value", len(got))
		}
		if got := docker(t, "exec", id, "cat", "/run/secrets/DATABASE_URL"); got != "postgres://app:"+password+"@db/app" {
			t.Errorf("/run/secrets/DATABASE_URL in backend holds %d bytes, not the URL with the password", len(got))
		}
	})

	total, failed, reasons := load.totals()
	t.Logf("requests during the updates: %d, failed: %d %v", total, failed, reasons)
}

// mustMageT runs a target that must succeed, failing t (a subtest) if not.
func mustMageT(t *testing.T, s *site, extra []string, args ...string) string {
	t.Helper()
	out, err := s.mage(extra, args...)
	if err != nil {
		t.Fatalf("mage %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func serviceNames(stack string) []string {
	var names []string
	for _, s := range stackServices {
		names = append(names, stack+"_"+s)
	}
	return names
}

// convergedAt checks, with docker service inspect and service ls, that
// every service of the stack is at version with no update paused or under
// way, and runs all its tasks.
func convergedAt(t *testing.T, stack, version string) {
	t.Helper()
	for _, name := range serviceNames(stack) {
		got := docker(t, "service", "inspect", "--format", `{{index .Spec.Labels "com.dtx.version"}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{else}}none{{end}}`, name)
		v, state, _ := strings.Cut(got, " ")
		if v != version || !slices.Contains([]string{"none", "completed", "rollback_completed"}, state) {
			t.Errorf("%s: version %s, update %s; want %s, converged", name, v, state, version)
		}
	}
	eventually(t, 60*time.Second, "every task of "+stack+" runs", func() error {
		out := docker(t, "service", "ls", "--filter", "label=com.docker.stack.namespace="+stack, "--format", "{{.Name}} {{.Replicas}}")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) < 2 || !strings.Contains(f[1], "/") || strings.Split(f[1], "/")[0] != strings.Split(f[1], "/")[1] {
				return fmt.Errorf("%s", out)
			}
		}
		return nil
	})
}

// secretNames are the secrets a service mounts: target -> secret name.
func secretNames(t *testing.T, service string) map[string]string {
	t.Helper()
	m := map[string]string{}
	out := docker(t, "service", "inspect", "--format", "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.File.Name}}={{.SecretName}} {{end}}", service)
	for _, kv := range strings.Fields(out) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func containsAll(text string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// header is a response header of the site's page.
func header(t *testing.T, c *http.Client, name string) string {
	t.Helper()
	resp, err := c.Get("https://dtx.test/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get(name)
}

// keepStackFiles puts a docker of the test's own first on PATH that
// appends the stack file of every docker stack deploy to file before it
// runs the real one, and returns the PATH entry for a target's run.
func keepStackFiles(t *testing.T, file string) string {
	t.Helper()
	real, err := exec.LookPath("docker")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\nif [ \"$1 $2\" = \"stack deploy\" ]; then tee -a '" + file + "' | '" + real + "' \"$@\"; exit $?; fi\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")
}

func finalLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// expect checks one round of what users get: the page version and the backend.
func expect(c *http.Client, version string) error {
	code, body, err := fetch(c, "https://dtx.test/version.txt")
	if err != nil {
		return err
	}
	if code != 200 || strings.TrimSpace(body) != version {
		return fmt.Errorf("version.txt: %d %q, want 200 %q", code, strings.TrimSpace(body), version)
	}
	code, body, err = fetch(c, "https://dtx.test/api/status")
	if err != nil {
		return err
	}
	if code != 200 || !strings.Contains(body, `"redis": "PONG"`) {
		return fmt.Errorf("/api/status: %d %q", code, body)
	}
	return nil
}

func fetch(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// load is a steady, bounded stream of requests (one every 50 ms, page and
// API in turn) that counts every failure: a connection error, a 5xx, a body
// that is neither version.
type load struct {
	mu      sync.Mutex
	total   int
	failed  int
	reasons map[string]int
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func startLoad(c *http.Client, base string) *load {
	l := &load{reasons: map[string]int{}, done: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-l.done:
				return
			case <-tick.C:
			}
			var reason string
			if i%2 == 0 {
				code, body, err := fetch(c, base+"version.txt")
				switch v := strings.TrimSpace(body); {
				case err != nil:
					reason = "page: " + err.Error()
				case code != 200:
					reason = fmt.Sprintf("page: %d", code)
				case v != "v1" && v != "v2":
					reason = fmt.Sprintf("page: body %q", v)
				}
			} else {
				code, body, err := fetch(c, base+"api/status")
				switch {
				case err != nil:
					reason = "api: " + err.Error()
				case code != 200:
					reason = fmt.Sprintf("api: %d", code)
				case !strings.Contains(body, `"redis": "PONG"`):
					reason = fmt.Sprintf("api: body %q", body)
				}
			}
			l.mu.Lock()
			l.total++
			if reason != "" {
				l.failed++
				l.reasons[reason]++
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *load) stop() {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
}

type loadCount struct{ total, failed int }

func (l *load) snapshot() loadCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	return loadCount{l.total, l.failed}
}

func (l *load) totals() (int, int, map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := map[string]int{}
	for k, v := range l.reasons {
		r[k] = v
	}
	return l.total, l.failed, r
}

// check fails the test when a request failed since before.
func (l *load) check(t *testing.T, before loadCount) {
	t.Helper()
	now := l.snapshot()
	_, _, reasons := l.totals()
	t.Logf("requests: %d, failed: %d", now.total-before.total, now.failed-before.failed)
	if now.total-before.total < 20 {
		t.Errorf("only %d requests were made: the load did not run", now.total-before.total)
	}
	if now.failed != before.failed {
		t.Errorf("%d of %d requests failed: %v", now.failed-before.failed, now.total-before.total, reasons)
	}
}

// ensureSwarm makes the engine a single-node swarm manager whose node may
// hold the stateful services' data, and leaves things as it found them: it
// leaves a swarm it created and removes a node label it added.
func ensureSwarm(t *testing.T) {
	t.Helper()
	state := docker(t, "info", "--format", "{{.Swarm.LocalNodeState}}")
	if state == "inactive" {
		// swarm init makes docker_gwbridge, and leave keeps it: remove it
		// too when the engine had none.
		hadGateway := exec.Command("docker", "network", "inspect", "docker_gwbridge").Run() == nil
		docker(t, "swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")
		t.Cleanup(func() {
			if out, err := exec.Command("docker", "swarm", "leave", "--force").CombinedOutput(); err != nil {
				t.Logf("cleanup: swarm leave: %v\n%s", err, out)
			}
			if !hadGateway {
				if out, err := exec.Command("docker", "network", "rm", "docker_gwbridge").CombinedOutput(); err != nil {
					t.Logf("cleanup: docker_gwbridge: %v\n%s", err, out)
				}
			}
		})
	} else if state != "active" {
		t.Fatalf("the engine's swarm state is %q", state)
	}
	node := docker(t, "info", "--format", "{{.Swarm.NodeID}}")
	if docker(t, "node", "inspect", "--format", `{{index .Spec.Labels "dtx.data"}}`, node) != "true" {
		docker(t, "node", "update", "--label-add", "dtx.data=true", node)
		t.Cleanup(func() { exec.Command("docker", "node", "update", "--label-rm", "dtx.data", node).Run() })
	}
}

// sshHost is an sshd of the test's own on 127.0.0.1 whose sessions reach
// the engine: url is the DOCKER_HOST, path the PATH whose ssh uses the
// test's key and known host.
type sshHost struct {
	url, path string
	config    string // the ssh client configuration for this host
}

// startSSHD starts Debian's sshd with a configuration, host key and
// authorized key generated here, sessions given the engine's DOCKER_HOST
// and PATH (SetEnv), and stops it by its PID at the end.
func startSSHD(t *testing.T) sshHost {
	t.Helper()
	return startSSHDOn(t, "127.0.0.1", "", os.Getenv("DOCKER_HOST"))
}

// startSSHDOn is startSSHD listening on addr, in the network namespace
// netns ("": this one's), its sessions given the engine at engine.
func startSSHDOn(t *testing.T, addr, netns, engine string) sshHost {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		t.Fatalf("%s is missing: apt-get install openssh-server (.ci/engine.sh installs it)", sshd)
	}
	dir := t.TempDir()
	keygen := func(path string) {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	keygen(filepath.Join(dir, "host_key"))
	keygen(filepath.Join(dir, "client_key"))
	pub, _ := os.ReadFile(filepath.Join(dir, "client_key.pub"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := strings.Join([]string{
		"Port " + port,
		"ListenAddress " + addr,
		"HostKey " + filepath.Join(dir, "host_key"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no",
		// The session's docker reaches the engine the test uses.
		"SetEnv DOCKER_HOST=" + engine + " PATH=" + os.Getenv("PATH"),
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // sshd's privilege-separation folder
		t.Fatal(err)
	}
	var logs bytes.Buffer
	argv := []string{sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config")}
	if netns != "" {
		argv = append([]string{"nsenter", "--net=" + netns, "--"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", logs.String())
		}
	})
	hostPub, _ := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	known := fmt.Sprintf("[%s]:%s %s", addr, port, strings.Join(strings.Fields(string(hostPub))[:2], " "))
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(known+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clientCfg := strings.Join([]string{
		"Host " + addr,
		"  IdentityFile " + filepath.Join(dir, "client_key"),
		"  IdentitiesOnly yes",
		"  UserKnownHostsFile " + filepath.Join(dir, "known_hosts"),
		"  StrictHostKeyChecking yes",
		"  BatchMode yes",
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "ssh_config"), []byte(clientCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// ssh reads ~/.ssh of the passwd entry, not $HOME: the docker CLI's
	// ssh is this wrapper, which names the test's configuration.
	bin := filepath.Join(dir, "bin")
	_ = os.MkdirAll(bin, 0o755)
	wrapper := "#!/bin/sh\nexec /usr/bin/ssh -F " + filepath.Join(dir, "ssh_config") + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	h := sshHost{url: "ssh://root@" + addr + ":" + port, path: bin + string(os.PathListSeparator) + os.Getenv("PATH"), config: filepath.Join(dir, "ssh_config")}
	eventually(t, 10*time.Second, "sshd answers", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}")
		c.Env = append(os.Environ(), "DOCKER_HOST="+h.url, "PATH="+h.path)
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	return h
}
