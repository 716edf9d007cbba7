package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/loadtest"
)

// build writes a release of the starters into the site whose page and API
// both say "build NAME;" (healthy=false: a backend whose health check never
// passes), and so does the bot's top-level file if the site has a bot; then
// it builds and pushes it as VERSION version, and returns docker:build's
// output.
func (s *site) build(t *testing.T, name, version string, healthy bool) string {
	t.Helper()
	page := filepath.Join(s.root, "frontend/public/index.html")
	server := filepath.Join(s.root, "backend/server.py")
	pageText, _ := os.ReadFile(filepath.Join(s.ts.Repo, "frontend/public/index.html"))
	serverText, _ := os.ReadFile(filepath.Join(s.ts.Repo, "backend/server.py"))
	p := strings.Replace(string(pageText), "<h1>", "<p>build "+name+";</p><h1>", 1)
	b := strings.Replace(string(serverText), `body = {"service": "backend", "path": path, "dev": DEV}`,
		`body = {"service": "backend", "path": path, "dev": DEV, "build": "build `+name+`;"}`, 1)
	if !healthy {
		b = strings.Replace(b, `return self.send(200, "ok\n", "text/plain")`, `return self.send(500, "broken\n", "text/plain")`, 1)
	}
	if p == string(pageText) || !strings.Contains(b, "build "+name) || (!healthy && !strings.Contains(b, "broken")) {
		t.Fatal("the starters changed: update the test's markers")
	}
	os.WriteFile(page, []byte(p), 0o644)
	os.WriteFile(server, []byte(b), 0o644)
	if s.hasBot() {
		s.setBotRelease(t, "build "+name+";")
	}
	v := []string{"VERSION=" + version}
	out := s.mustMage(v, "docker:build")
	s.mustMage(v, "docker:push")
	return out
}

// TestDeploy deploys on one host under a steady stream of requests
// (internal/loadtest: one every 25 ms through nginx, alternating the page and
// the API, every connection error, 5xx and unknown body counted): a first
// deploy, a new version, a broken version, a failing pre-deploy command and
// a rollback, with no failed request in any of them.
func TestDeploy(t *testing.T) {
	s := newSite(t)
	httpPort, httpsPort := freePort(t), freePort(t)
	base := []string{"HTTP_PORT=" + httpPort, "HTTPS_PORT=" + httpsPort,
		// The load comes from one address: keep nginx's limits out of the way.
		"BACKEND_RATE_LIMIT=10000r/s", "BACKEND_RATE_BURST=10000", "BACKEND_CONN_LIMIT=10000"}
	v1, v2, v3 := "1.0.0", "1.1.0", "1.2.0"
	s.build(t, "one", v1, true)
	s.build(t, "two", v2, true)
	s.build(t, "three", v3, false)
	builds := []string{"one", "two", "three"}

	// First deploy on an empty server: nothing to replace.
	out := s.mustMage(base, "prod:deploy", "-version="+v1)
	if !strings.Contains(out, "on an empty server") {
		t.Errorf("first deploy:\n%s", out)
	}
	c, err := loadtest.Client(filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"), "dtx.test", httpsPort)
	if err != nil {
		t.Fatal(err)
	}
	l := loadtest.Start(c, "https://dtx.test", builds)
	defer l.Close()

	// check runs a deploy target under the load: it must exit with
	// wantStatus (0: success), lose no request, and leave build wantLast
	// answering.
	check := func(name string, extra []string, wantStatus int, wantLast string, args ...string) string {
		t.Helper()
		var out string
		var err error
		n, failures, last := l.Phase(func() { out, err = s.mage(append(append([]string{}, base...), extra...), args...) })
		sent := n.Sent
		t.Logf("%s: %d requests, %d failed (%d connection errors, %d 5xx, %d wrong bodies)", name, sent, n.Failed(), n.ConnErrors, n.ServerErrors, n.WrongBodies)
		if status := exitStatus(err); status != wantStatus {
			t.Errorf("%s: exit status %d (%v), want %d\n%s", name, status, err, wantStatus, out)
		}
		if n.Failed() > 0 {
			t.Errorf("%s: %d of %d requests failed, the first of each kind:\n%s\nits output:\n%s", name, n.Failed(), sent, strings.Join(failures, "\n"), out)
		}
		if last != wantLast {
			t.Errorf("%s: build %q answers now, want %q", name, last, wantLast)
		}
		if sent < 10 {
			t.Errorf("%s: only %d requests: the load did not run", name, sent)
		}
		return out
	}
	// What docker says of the running containers, not what the tool says:
	// nginx's image is the same in every version, so no deploy here may
	// recreate or restart it; a deploy that fails or has nothing to do
	// switches no container at all.
	project := s.prefix + "-release"
	nginx := running(t, project)["nginx"]
	unchanged := func(step string, before map[string]container, services ...string) {
		t.Helper()
		after := running(t, project)
		for _, svc := range services {
			if after[svc] != before[svc] {
				t.Errorf("%s: %s was %+v, is %+v: replaced or restarted", step, svc, before[svc], after[svc])
			}
		}
	}

	out = check("deploy v2", nil, 0, "two", "prod:deploy", "-version="+v2)
	if !strings.Contains(out, "1.1.0 deployed in ") || strings.Contains(out, "nginx recreated") {
		t.Errorf("deploy v2 (nginx's image is the same: not recreated):\n%s", out)
	}
	unchanged("deploy v2", map[string]container{"nginx": nginx}, "nginx")
	before := running(t, project)
	out = check("the version that runs", nil, 0, "two", "prod:deploy", "-version="+v2)
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("deploying what runs:\n%s", out)
	}
	unchanged("the version that runs", before, "frontend", "backend", "redis", "nginx")
	out = check("broken v3", nil, 1, "two", "prod:deploy", "-version="+v3, "-wait=15s")
	if !strings.Contains(out, "backend 1.2.0 was not healthy within 15s") || !strings.Contains(out, "1.1.0 keeps serving") {
		t.Errorf("broken v3: no clear reason:\n%s", out)
	}
	unchanged("broken v3", before, "frontend", "backend", "redis", "nginx")
	// The command exits 3: the deploy exits with its status, not mage's 1.
	out = check("failing pre-deploy", []string{`PRE_DEPLOY=python3 -c "import sys; sys.exit(3)"`}, 3, "two", "prod:deploy", "-version="+v1)
	if !strings.Contains(out, "the pre-deploy command (PRE_DEPLOY) failed in the 1.0.0 backend, so nothing was switched") {
		t.Errorf("failing pre-deploy: no clear reason:\n%s", out)
	}
	unchanged("failing pre-deploy", before, "frontend", "backend", "redis", "nginx")
	out = check("rollback to v1", nil, 0, "one", "prod:rollback")
	if !strings.Contains(out, "rolling back from 1.1.0 to 1.0.0") {
		t.Errorf("rollback:\n%s", out)
	}
	unchanged("rollback to v1", map[string]container{"nginx": nginx}, "nginx")

	// The server knows what runs and what happened.
	status := s.mustMage(base, "prod:status")
	if !strings.Contains(status, "release stack "+s.prefix+"-release: 1.0.0") {
		t.Errorf("prod:status does not say 1.0.0 runs:\n%s", status)
	}
	for _, want := range [][]string{{"1.0.0", "deployed"}, {"1.1.0", "deployed"}, {"1.2.0", "failed", "was not healthy"}, {"1.0.0", "failed", "pre-deploy"}, {"1.0.0", "rolled-back", "from 1.1.0"}} {
		found := false
		for _, line := range strings.Split(status, "\n") {
			all := true
			for _, w := range want {
				all = all && strings.Contains(line, w)
			}
			found = found || all
		}
		if !found {
			t.Errorf("prod:status has no deploy line with %q:\n%s", want, status)
		}
	}
	if n := len(containers(t, s.prefix+"-release", false)); n != 4 {
		t.Errorf("%d containers run after the deploys, want 4 (no new or old one left)", n)
	}
}

// container is what docker inspect says of a running container: which
// one, since when, how often restarted.
type container struct {
	ID, StartedAt string
	RestartCount  int
}

// running maps each service of a compose project to its one running
// container (several fail the test).
func running(t *testing.T, project string) map[string]container {
	t.Helper()
	ids := containers(t, project, false)
	if len(ids) == 0 {
		t.Fatalf("no container of %s runs", project)
	}
	var inspected []struct {
		ID           string
		RestartCount int
		State        struct{ StartedAt string }
		Config       struct{ Labels map[string]string }
	}
	if err := json.Unmarshal([]byte(docker(t, append([]string{"inspect"}, ids...)...)), &inspected); err != nil {
		t.Fatal(err)
	}
	m := map[string]container{}
	for _, c := range inspected {
		svc := c.Config.Labels["com.docker.compose.service"]
		if _, dup := m[svc]; dup {
			t.Fatalf("%s runs two %s containers", project, svc)
		}
		m[svc] = container{c.ID, c.State.StartedAt, c.RestartCount}
	}
	return m
}

// exitStatus is the exit status of a finished command: 0 for no error, -1
// for an error that is no exit status (it did not start, say).
func exitStatus(err error) int {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	return -1
}
