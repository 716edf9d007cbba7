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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/certs"
)

// TestSwarm deploys the release stack to a single-node swarm of the engine
// under a steady stream of HTTPS requests: v1, a rolling update to v2, a
// broken v3 that Swarm rolls back, then v1 again through DOCKER_HOST=ssh://.
// Not one request may fail.
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
	if base := os.Getenv("REDIS_IMAGE"); base != "" {
		// The stand-in base has no /data; the official redis image has it,
		// owned by redis (999), which a new volume copies.
		img := s.prefix + "-redis:test"
		build := exec.Command("docker", "build", "-q", "-t", img, "-")
		build.Stdin = strings.NewReader("FROM " + base + "\nRUN mkdir -p /data && chown 999:999 /data\n")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("redis stand-in: %v\n%s", err, out)
		}
		s.vars["REDIS_IMAGE"] = img
		t.Cleanup(func() { exec.Command("docker", "rmi", img).Run() })
	}
	secret := "swarm-secret-" + randomHex(t)
	if err := os.WriteFile(filepath.Join(s.root, "docker/.env.release.local"), []byte("DJANGO_SECRET_KEY="+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
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
		outputs = append(outputs, mustMageT(t, s, []string{"VERSION=" + version}, "docker:build", "-only=frontend,backend,nginx"))
		outputs = append(outputs, mustMageT(t, s, []string{"VERSION=" + version}, "docker:push", "-only=frontend,backend,nginx"))
	}
	release(t, v1, "v1")
	release(t, v2, "v2")

	out := s.mustMage([]string{"VERSION=" + v1}, "swarm:deploy")
	outputs = append(outputs, out)
	c := client(t, httpPort, httpsPort, filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"))
	eventually(t, 60*time.Second, "v1 answers", func() error { return expect(c, "v1") })

	load := startLoad(c, "https://dtx.test/")
	t.Cleanup(load.stop)

	t.Run("update to v2 without a failed request", func(t *testing.T) {
		before := load.snapshot()
		start := time.Now()
		out := mustMageT(t, s, []string{"VERSION=" + v2}, "swarm:deploy")
		outputs = append(outputs, out)
		t.Logf("v1 -> v2 took %s", time.Since(start).Round(time.Second))
		for _, want := range []string{s.prefix + "_frontend: updated to version " + v2, s.prefix + "_nginx: running"} {
			if !strings.Contains(out, want) {
				t.Errorf("swarm:deploy did not say %q:\n%s", want, out)
			}
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
		out, err := s.mage([]string{"VERSION=" + v3}, "swarm:deploy")
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
		for _, svc := range []string{"backend", "frontend"} {
			if got := docker(t, "service", "inspect", "--format", `{{index .Spec.Labels "com.dtx.version"}}`, s.prefix+"_"+svc); got != v2 {
				t.Errorf("%s's spec after the rollback is version %q, want %s (the release stays whole)", svc, got, v2)
			}
		}
		if err := expect(c, "v2"); err != nil {
			t.Errorf("after the rollback: %v", err)
		}
		load.check(t, before)
	})

	t.Run("the whole deploy through DOCKER_HOST=ssh://", func(t *testing.T) {
		host := startSSHD(t)
		before := load.snapshot()
		out := mustMageT(t, s, []string{"VERSION=" + v1, "DOCKER_HOST=" + host.url, "PATH=" + host.path}, "swarm:deploy")
		outputs = append(outputs, out)
		if !strings.Contains(out, s.prefix+"_frontend: updated to version "+v1) {
			t.Errorf("swarm:deploy through ssh did not update frontend:\n%s", out)
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
		for name, text := range map[string]string{"docker service inspect": inspect, "the targets' output": strings.Join(outputs, "\n")} {
			for what, v := range map[string]string{"DJANGO_SECRET_KEY": secret, "the private key": keyBody} {
				if strings.Contains(text, v) {
					t.Errorf("%s shows %s", name, what)
				}
			}
		}
		if !strings.Contains(inspect, "DJANGO_SECRET_KEY_FILE=/run/secrets/DJANGO_SECRET_KEY") {
			t.Errorf("backend does not get DJANGO_SECRET_KEY_FILE")
		}
		// The secret reaches the app as a file.
		id := strings.Fields(docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+s.prefix+"_backend"))[0]
		if got := docker(t, "exec", id, "cat", "/run/secrets/DJANGO_SECRET_KEY"); got != secret {
			t.Errorf("/run/secrets/DJANGO_SECRET_KEY in backend holds %d bytes, not the .local value", len(got))
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
	for _, s := range []string{"frontend", "backend", "nginx", "redis"} {
		names = append(names, stack+"_"+s)
	}
	return names
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
// hold redis, and leaves things as it found them: it leaves a swarm it
// created and removes a node label it added.
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
	if docker(t, "node", "inspect", "--format", `{{index .Spec.Labels "dtx.redis"}}`, node) != "true" {
		docker(t, "node", "update", "--label-add", "dtx.redis=true", node)
		t.Cleanup(func() { exec.Command("docker", "node", "update", "--label-rm", "dtx.redis", node).Run() })
	}
}

// sshHost is an sshd of the test's own on 127.0.0.1 whose sessions reach
// the engine: url is the DOCKER_HOST, path the PATH whose ssh uses the
// test's key and known host.
type sshHost struct {
	url, path string
}

// startSSHD starts Debian's sshd with a configuration, host key and
// authorized key generated here, sessions given the engine's DOCKER_HOST
// and PATH (SetEnv), and stops it by its PID at the end.
func startSSHD(t *testing.T) sshHost {
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
	engine := os.Getenv("DOCKER_HOST")
	cfg := strings.Join([]string{
		"Port " + port,
		"ListenAddress 127.0.0.1",
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
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
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
	known := fmt.Sprintf("[127.0.0.1]:%s %s", port, strings.Join(strings.Fields(string(hostPub))[:2], " "))
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(known+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clientCfg := strings.Join([]string{
		"Host 127.0.0.1",
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
	h := sshHost{url: "ssh://root@127.0.0.1:" + port, path: bin + string(os.PathListSeparator) + os.Getenv("PATH")}
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
