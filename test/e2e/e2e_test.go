package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/stack"
	"github.com/kettleofketchup/dtx_website/internal/testsite"
)

// starterTitle is what the starter frontend's page says (frontend/public).
const starterTitle = "dtx website starter"

// TestEndToEnd runs the targets in the order a team meets them; each step
// builds on the previous one (the images built, pushed, pulled…).
func TestEndToEnd(t *testing.T) {
	s := newSite(t)
	steps := []struct {
		name string
		fn   func(*testing.T, *site)
	}{
		{"docker:build", testBuild},
		{"docker:push and docker:pull", testPushPull},
		{"dev:release", testRelease},
		{"dev:debug and dev:test side by side, then Ctrl-C", testDebugAndTest},
		{"engine unreachable", testEngineUnreachable},
	}
	for _, step := range steps {
		if !t.Run(step.name, func(t *testing.T) { step.fn(t, s.with(t)) }) {
			t.Fatalf("step %q failed; the later steps build on it", step.name)
		}
	}
}

// with returns the site reporting to t.
func (s *site) with(t *testing.T) *site {
	c := *s
	c.t = t
	return &c
}

// starterImages are the images the starter's compose files declare (build
// sections in docker-compose.debug.yaml and docker-compose.prod.yaml).
var starterImages = []string{"backend", "backend-dev", "frontend", "frontend-dev", "nginx"}

func (s *site) ref(image, tag string) string { return s.ts.Ref(image, tag) }

func testBuild(t *testing.T, s *site) {
	out := s.mustMage(nil, "docker:build")
	for _, img := range starterImages {
		for _, tag := range []string{s.vars["VERSION"], "latest"} {
			docker(t, "image", "inspect", "--format", "{{.Id}}", s.ref(img, tag))
		}
		if !strings.Contains(out, "\n"+img+" ") {
			t.Errorf("the summary lacks %s:\n%s", img, out)
		}
	}
	if !strings.Contains(out, "built 5 images in ") {
		t.Errorf("no summary:\n%s", out)
	}
	// A second build with nothing changed comes from the cache.
	again := s.mustMage(nil, "docker:build")
	if n := strings.Count(again, " cached\n"); n != 5 {
		t.Errorf("second build: %d of 5 images from cache:\n%s", n, again)
	}
}

func repoDigest(t *testing.T, ref string) string {
	return docker(t, "image", "inspect", "--format", "{{index .RepoDigests 0}}", ref)
}

func testPushPull(t *testing.T, s *site) {
	s.mustMage(nil, "docker:push")
	digests := map[string]string{}
	for _, img := range starterImages {
		resp, err := http.Get("http://" + testsite.RegistryHost() + "/v2/" + s.prefix + "/" + img + "/tags/list")
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ Tags []string }
		json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		for _, tag := range []string{s.vars["VERSION"], "latest"} {
			if !slices.Contains(list.Tags, tag) {
				t.Errorf("registry has %s tags %v, want %s", img, list.Tags, tag)
			}
			digests[s.ref(img, tag)] = repoDigest(t, s.ref(img, tag))
		}
	}
	var refs []string
	for ref := range digests {
		refs = append(refs, ref)
	}
	docker(t, append([]string{"rmi"}, refs...)...)
	for _, ref := range refs {
		if exec.Command("docker", "image", "inspect", ref).Run() == nil {
			t.Fatalf("%s still present after rmi", ref)
		}
	}
	s.mustMage(nil, "docker:pull")
	for ref, want := range digests {
		if got := repoDigest(t, ref); got != want {
			t.Errorf("%s: pulled digest %s, pushed %s", ref, got, want)
		}
	}
}

func testRelease(t *testing.T, s *site) {
	httpPort, httpsPort := freePort(t), freePort(t)
	ports := []string{"HTTP_PORT=" + httpPort, "HTTPS_PORT=" + httpsPort}
	project := s.prefix + "-release"
	volumesBefore := projectVolumes(t, project)

	// Precedence inside the containers: committed file < .local < process,
	// for what every service sees, and no secret printed on the way.
	// PRECEDENCE is set by both files and not by the process: the .local
	// file's value must be the one inside.
	committed := filepath.Join(s.root, "docker/.env.release")
	committedText, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(committed, append(committedText, "PRECEDENCE=from-committed\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(committed, committedText, 0o644)
	local := filepath.Join(s.root, "docker/.env.release.local")
	if err := os.WriteFile(local, []byte("DB_PASSWORD=from-local\nLOCAL_ONLY=from-local-only\nDOMAIN=local.example\nPRECEDENCE=from-local-precedence\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(local)
	secret := "pa'ss $HOME w0rd"
	out := s.mustMage(append(ports, "DB_PASSWORD="+secret), "dev:release")
	if strings.Contains(out, "pa'ss") || strings.Contains(out, "from-local") {
		t.Errorf("dev:release printed a secret:\n%s", out)
	}
	checkContainerEnv(t, project, map[string]map[string]string{
		"backend":  {"DOMAIN": "dtx.test", "DB_PASSWORD": secret, "LOCAL_ONLY": "from-local-only", "PRECEDENCE": "from-local-precedence", "DEBUG": "0"},
		"frontend": {"DOMAIN": "dtx.test", "DB_PASSWORD": secret, "LOCAL_ONLY": "from-local-only", "PRECEDENCE": "from-local-precedence", "DEBUG": "0"},
		"nginx":    {"DOMAIN": "dtx.test"},
	})
	volumesMounted := mountedVolumes(t, project)
	if data, err := os.ReadFile(filepath.Join(s.root, "docker/.env.release.compose.yaml")); err != nil || strings.Contains(string(data), "pa'ss") || strings.Contains(string(data), "from-local") {
		t.Errorf("the env override is missing or holds a value (%v):\n%s", err, data)
	}
	for _, c := range containers(t, project, false) {
		image := docker(t, "inspect", "--format", "{{.Config.Image}}", c)
		if strings.HasPrefix(image, s.vars["REGISTRY"]) && !strings.HasSuffix(image, ":"+s.vars["VERSION"]) {
			t.Errorf("release runs %s, not the VERSION image", image)
		}
	}
	c := client(t, httpPort, httpsPort, filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"))
	checkSite(t, c, "dtx.test", starterTitle, false)

	// stack:exec hands the container the words a shell would.
	if out := s.mustMage(ports, "stack:exec", "release", "nginx", `sh -c 'printf "<%s>" "$0" "$1"' "a  b" c`); !strings.Contains(out, "<a  b><c>") {
		t.Errorf("stack:exec: want <a  b><c> in:\n%s", out)
	}

	// HSTS in release.
	if _, h, _ := get(t, c, "https://dtx.test/"); !strings.Contains(h.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS header in release: %v", h)
	}
	// Plain HTTP redirects, except the ACME challenge served from the webroot.
	code, h, _ := get(t, c, "http://dtx.test/some/page?x=1")
	// The redirect keeps the published HTTPS port, and a browser following
	// it lands on the site.
	if want := "https://dtx.test:" + httpsPort + "/some/page?x=1"; code != http.StatusMovedPermanently || h.Get("Location") != want {
		t.Errorf("http: %d Location %q, want 301 to %s", code, h.Get("Location"), want)
	} else if code, _, body := get(t, c, want); code != 200 || !strings.Contains(body, starterTitle) {
		t.Errorf("following the redirect: %d %q", code, body)
	}
	challenge := filepath.Join(s.root, "nginx/data/certbot/www/.well-known/acme-challenge/e2e-token")
	os.MkdirAll(filepath.Dir(challenge), 0o755)
	os.WriteFile(challenge, []byte("e2e-token.thumbprint"), 0o644)
	if code, _, body := get(t, c, "http://dtx.test/.well-known/acme-challenge/e2e-token"); code != 200 || body != "e2e-token.thumbprint" {
		t.Errorf("ACME path: %d %q", code, body)
	}

	// Hardened as a security audit wants it, and still serving: the security
	// headers on the page, the API, a 404 and a 502; limits on the API.
	checkHardened(t, project)
	checkHeaders(t, c, "https://dtx.test/", 200)
	checkHeaders(t, c, "https://dtx.test/api/things", 200)
	checkHeaders(t, c, "https://dtx.test/missing.png", 404)
	checkRateLimit(t, c, "dtx.test")
	backend := docker(t, "ps", "-q", "--filter", "label=com.docker.compose.project="+project, "--filter", "label=com.docker.compose.service=backend")
	docker(t, "stop", backend)
	// nginx answers 504 while it still has the stopped container's address
	// (resolver valid=10s), then 502: the name no longer resolves.
	eventually(t, 30*time.Second, "502 with the backend stopped", func() error {
		if code, _, _ := get(t, c, "https://dtx.test/api/things"); code != http.StatusBadGateway {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
	checkHeaders(t, c, "https://dtx.test/api/things", 502)
	docker(t, "start", backend)

	// Redis data survives a down and an up.
	s.mustMage(ports, "stack:exec", "release", "redis", "redis-cli set e2e-key survived")
	s.mustMage(ports, "stack:down", "release")
	if ids := containers(t, project, true); len(ids) > 0 {
		t.Errorf("down left containers %v", ids)
	}
	if ids := networks(t, project); len(ids) > 0 {
		t.Errorf("down left networks %v", ids)
	}
	s.mustMage(ports, "stack:up", "release")
	if out := s.mustMage(ports, "stack:exec", "release", "redis", "redis-cli get e2e-key"); !strings.Contains(out, "survived") {
		t.Errorf("redis lost its data across down and up:\n%s", out)
	}
	s.mustMage(ports, "stack:down", "release")
	// The project's volumes only: anything else on a shared engine may make
	// or remove volumes meanwhile.
	if after := projectVolumes(t, project); !slices.Equal(after, volumesBefore) {
		t.Errorf("volumes of %s before: %q, after down: %q", project, volumesBefore, after)
	}
	for _, v := range volumesMounted {
		if exec.Command("docker", "volume", "inspect", v).Run() == nil {
			t.Errorf("volume %s, which the stack's containers mounted, is still there after down", v)
		}
	}
}

// projectVolumes lists the volumes labelled as a compose project's, sorted.
func projectVolumes(t *testing.T, project string) []string {
	t.Helper()
	vols := strings.Fields(docker(t, "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+project))
	slices.Sort(vols)
	return vols
}

// mountedVolumes lists the volumes (named or anonymous, labelled or not)
// that a compose project's containers mount.
func mountedVolumes(t *testing.T, project string) []string {
	t.Helper()
	var vols []string
	for _, id := range containers(t, project, true) {
		vols = append(vols, strings.Fields(docker(t, "inspect", "--format", `{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}`, id))...)
	}
	return vols
}

// checkSite checks nginx's routing over HTTPS, verified against the
// generated certificate: / reaches the frontend and /api the backend, which
// reaches redis.
func checkSite(t *testing.T, c *http.Client, host, frontendText string, dev bool) {
	t.Helper()
	if code, h, body := get(t, c, "https://"+host+"/"); code != 200 || !strings.Contains(body, frontendText) || h.Get("X-Dtx-Service") != "frontend" {
		t.Errorf("GET /: %d %q", code, body)
	}
	code, _, body := get(t, c, "https://"+host+"/api/things?id=7")
	var api struct {
		Service, Path string
		Dev           bool
	}
	if err := json.Unmarshal([]byte(body), &api); code != 200 || err != nil || api.Service != "backend" || api.Path != "/api/things" || api.Dev != dev {
		t.Errorf("GET /api/things: %d %q (dev=%v wanted)", code, body, dev)
	}
	if code, _, body := get(t, c, "https://"+host+"/api/redis"); code != 200 || !strings.Contains(body, "PONG") {
		t.Errorf("GET /api/redis: %d %q", code, body)
	}
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testDebugAndTest(t *testing.T, s *site) {
	debugPorts := []string{"HTTP_PORT=" + freePort(t), "HTTPS_PORT=" + freePort(t)}
	testPorts := []string{"HTTP_PORT=" + freePort(t), "HTTPS_PORT=" + freePort(t)}
	port := func(ports []string, i int) string { return strings.SplitN(ports[i], "=", 2)[1] }
	debugProject, testProject := s.prefix+"-debug", s.prefix+"-test"

	// dev:debug runs attached, in its own process group as in a terminal.
	var out lockedBuffer
	cmd := s.mageCmd(t.Context(), debugPorts, "dev:debug")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// If mage is killed, the compose it started (in a process group of its
	// own) may hold the output pipe; do not wait for it forever.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()

	c := client(t, port(debugPorts, 0), port(debugPorts, 1), filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"))
	eventually(t, 3*time.Minute, "debug stack serving", func() error {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("dev:debug exited early: %v\n%s", err, out.String())
		default:
		}
		resp, err := c.Get("https://dtx.test/api/redis")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	checkSite(t, c, "dtx.test", starterTitle, true)
	// It said where the site is before the logs, and the health checks
	// (every 2 s) stay out of the attached log.
	log := out.String()
	url := "https://localhost:" + port(debugPorts, 1) + "/"
	if banner, logs := strings.Index(log, "the site will be at "+url), strings.Index(log, "Attaching to"); banner < 0 || (logs >= 0 && logs < banner) {
		t.Errorf("dev:debug did not say %s before the logs:\n%s", url, log)
	}
	if strings.Contains(log, "healthz") {
		t.Errorf("health checks flood the attached log:\n%s", log)
	}
	// The page's script asks the backend through nginx, which reaches redis.
	if code, _, body := get(t, c, "https://dtx.test/api/status"); code != 200 || !strings.Contains(body, `"redis": "PONG"`) || !strings.Contains(body, `"visits": `) {
		t.Errorf("GET /api/status: %d %q", code, body)
	}

	// Hot reload: an edit of the mounted ./frontend's page and of the
	// mounted ./backend's code is served within 2 s each, with no rebuild
	// and no restart by hand (the backend restarts itself on the change).
	marker := fmt.Sprintf("hot reload %d", time.Now().UnixNano())
	servedWithin(t, c, "https://dtx.test/", marker, "frontend/public/index.html", func() error {
		return os.WriteFile(filepath.Join(s.root, "frontend/public/index.html"), []byte("<h1>"+marker+"</h1>\n"), 0o644)
	})
	apiMarker := fmt.Sprintf("edited-%d", time.Now().UnixNano())
	servedWithin(t, c, "https://dtx.test/api/status", apiMarker, "backend/server.py", func() error {
		path := filepath.Join(s.root, "backend/server.py")
		code, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		edited := strings.Replace(string(code), `body = {"service": "backend",`, `body = {"edit": "`+apiMarker+`", "service": "backend",`, 1)
		if edited == string(code) {
			return fmt.Errorf("backend/server.py has no line to edit")
		}
		return os.WriteFile(path, []byte(edited), 0o644)
	})

	// The test stack alongside, on its own network and ports.
	s.mustMage(testPorts, "dev:test")
	tc := client(t, port(testPorts, 0), port(testPorts, 1), filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"))
	checkSite(t, tc, "dtx.test", marker, true)
	if n, m := len(containers(t, debugProject, false)), len(containers(t, testProject, false)); n != 4 || m != 4 {
		t.Errorf("running: %d debug and %d test containers, want 4 and 4", n, m)
	}
	testNet := docker(t, "network", "ls", "--format", "{{.Name}}", "--filter", "label=com.docker.compose.project="+testProject)
	if testNet != testProject+"_test-network" {
		t.Errorf("test stack networks %q, want %s_test-network only", testNet, testProject)
	}
	debugFrontend := docker(t, "ps", "-q", "--filter", "label=com.docker.compose.project="+debugProject, "--filter", "label=com.docker.compose.service=frontend")
	debugIP := docker(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", debugFrontend)
	probe := func(target string) error {
		// The backend image has python3, whatever its base.
		return exec.Command("docker", "run", "--rm", "--network", testNet, "--label", "dtx-e2e="+s.prefix, s.ref("backend-dev", "latest"),
			"python3", "-c", "import socket, sys; socket.create_connection((sys.argv[1], 3000), 3)", target).Run()
	}
	if err := probe("frontend"); err != nil {
		t.Errorf("a container on test-network cannot reach the test frontend: %v", err)
	}
	if err := probe(debugIP); err == nil {
		t.Errorf("a container on test-network reached the debug frontend at %s", debugIP)
	}
	s.mustMage(testPorts, "stack:down", "test")

	// Ctrl-C: SIGINT to dev:debug's process group stops the stack gracefully.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
		stopped = true
	case <-time.After(30 * time.Second):
		t.Fatalf("dev:debug still running 30 s after Ctrl-C:\n%s", out.String())
	}
	// Ctrl-C is dev:debug's documented end: one line, exit 0.
	if err != nil {
		t.Errorf("dev:debug exited with %v after Ctrl-C, want 0:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "stopped the debug stack; ./dtx stack:down debug removes it\n") {
		t.Errorf("dev:debug did not say how it stopped:\n%s", out.String())
	}
	if strings.Contains(out.String(), "context canceled") || strings.Contains(out.String(), "Error:") {
		t.Errorf("Ctrl-C reported as a failure:\n%s", out.String())
	}
	if ids := containers(t, debugProject, false); len(ids) > 0 {
		t.Errorf("containers still running after Ctrl-C: %v\n%s", ids, out.String())
	}
	if n := len(containers(t, debugProject, true)); n != 4 {
		t.Errorf("%d stopped debug containers, want the 4 stopped gracefully (not removed)", n)
	}
	if err := syscall.Kill(-cmd.Process.Pid, 0); err == nil {
		t.Errorf("processes of dev:debug's group are still alive")
	}
	if pids := processesMentioning(debugProject); len(pids) > 0 {
		t.Errorf("processes left behind: %v", pids)
	}
	s.mustMage(debugPorts, "stack:down", "debug")
}

// processesMentioning lists the PIDs whose command line contains s.
func processesMentioning(s string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), s) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func testEngineUnreachable(t *testing.T, s *site) {
	sock := "unix://" + filepath.Join(t.TempDir(), "stopped-engine.sock")
	extra := []string{"DOCKER_HOST=" + sock}
	for _, target := range [][]string{
		{"docker:build"}, {"docker:push"}, {"docker:pull"},
		{"dev:debug"}, {"dev:test"}, {"dev:prod"}, {"dev:release"},
		{"stack:up", "prod"}, {"stack:down", "release"}, {"stack:ps", "debug"}, {"stack:logs", "test"},
		{"stack:exec", "debug", "backend", "true"}, {"prod:certbot"}, {"prod:renew"},
	} {
		start := time.Now()
		out, err := s.mage(extra, target...)
		took := time.Since(start)
		if err == nil {
			t.Errorf("%s succeeded without an engine", target[0])
			continue
		}
		if !strings.Contains(out, "the Docker engine is unreachable at "+sock) {
			t.Errorf("%s: no clear message:\n%s", target[0], out)
		}
		if took > 20*time.Second {
			t.Errorf("%s took %s to fail", target[0], took)
		}
	}
	for _, env := range stack.EnvironmentNames() {
		if ids := containers(t, s.prefix+"-"+env, false); len(ids) > 0 {
			t.Errorf("%s has running containers: %v", env, ids)
		}
	}
}

// checkContainerEnv asserts variables in the environment of each service's
// running container, as docker inspect shows it and as a process started in
// it (docker exec env) sees it.
func checkContainerEnv(t *testing.T, project string, want map[string]map[string]string) {
	t.Helper()
	for service, vars := range want {
		id := docker(t, "ps", "-q", "--filter", "label=com.docker.compose.project="+project, "--filter", "label=com.docker.compose.service="+service)
		var inspected []string
		if err := json.Unmarshal([]byte(docker(t, "inspect", "--format", "{{json .Config.Env}}", id)), &inspected); err != nil {
			t.Fatal(err)
		}
		for how, env := range map[string][]string{
			"docker inspect":  inspected,
			"docker exec env": strings.Split(docker(t, "exec", id, "env"), "\n"),
		} {
			got := map[string]string{}
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				got[k] = v
			}
			for k, v := range vars {
				if got[k] != v {
					t.Errorf("%s: %s sees %s=%q, want %q", how, service, k, got[k], v)
				}
			}
		}
	}
}

// servedWithin makes a change (edit) and asks url until its body holds
// marker: within 2 s, measured from the edit and printed.
func servedWithin(t *testing.T, c *http.Client, url, marker, what string, edit func() error) {
	t.Helper()
	start := time.Now()
	if err := edit(); err != nil {
		t.Fatal(err)
	}
	var last string
	for time.Since(start) < 10*time.Second {
		if resp, err := c.Get(url); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if last = string(body); strings.Contains(last, marker) {
				took := time.Since(start)
				t.Logf("hot reload: an edit of %s served after %s", what, took.Round(10*time.Millisecond))
				if took > 2*time.Second {
					t.Errorf("an edit of %s took %s to be served, want at most 2 s", what, took.Round(10*time.Millisecond))
				}
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("an edit of %s was not served within 10 s without a rebuild; the last answer: %.300q", what, last)
}
