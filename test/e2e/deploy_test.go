package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/loadtest"
)

// build writes a release of the starters into the site whose page and API
// both say "build NAME;" (healthy=false: a backend whose health check never
// passes), then builds and pushes it as VERSION version.
func (s *site) build(t *testing.T, name, version string, healthy bool) {
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
	v := []string{"VERSION=" + version}
	s.mustMage(v, "docker:build")
	s.mustMage(v, "docker:push")
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

	check := func(name string, extra []string, wantErr bool, wantLast string, args ...string) string {
		t.Helper()
		var out string
		var err error
		n, failures, last := l.Phase(func() { out, err = s.mage(append(append([]string{}, base...), extra...), args...) })
		sent := n.Sent
		t.Logf("%s: %d requests, %d failed (%d connection errors, %d 5xx, %d wrong bodies)", name, sent, n.Failed(), n.ConnErrors, n.ServerErrors, n.WrongBodies)
		if (err != nil) != wantErr {
			t.Errorf("%s: error %v, want an error: %v\n%s", name, err, wantErr, out)
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

	out = check("deploy v2", nil, false, "two", "prod:deploy", "-version="+v2)
	if !strings.Contains(out, "1.1.0 deployed in ") || strings.Contains(out, "nginx recreated") {
		t.Errorf("deploy v2 (nginx's image is the same: not recreated):\n%s", out)
	}
	out = check("the version that runs", nil, false, "two", "prod:deploy", "-version="+v2)
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("deploying what runs:\n%s", out)
	}
	out = check("broken v3", nil, true, "two", "prod:deploy", "-version="+v3, "-wait=15s")
	if !strings.Contains(out, "backend 1.2.0 was not healthy within 15s") || !strings.Contains(out, "1.1.0 keeps serving") {
		t.Errorf("broken v3: no clear reason:\n%s", out)
	}
	out = check("failing pre-deploy", []string{`PRE_DEPLOY=python3 -c "import sys; sys.exit(3)"`}, true, "two", "prod:deploy", "-version="+v1)
	if !strings.Contains(out, "the pre-deploy command (PRE_DEPLOY) failed in the 1.0.0 backend, so nothing was switched") {
		t.Errorf("failing pre-deploy: no clear reason:\n%s", out)
	}
	out = check("rollback to v1", nil, false, "one", "prod:rollback")
	if !strings.Contains(out, "rolling back from 1.1.0 to 1.0.0") {
		t.Errorf("rollback:\n%s", out)
	}

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
