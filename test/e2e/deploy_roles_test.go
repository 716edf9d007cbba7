package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/loadtest"
)

// addWorkers appends testsite.Workers to the site's release compose file.
func (s *site) addWorkers(t *testing.T) {
	t.Helper()
	if err := s.ts.AddWorkers(); err != nil {
		t.Fatal(err)
	}
}

// patientHealthChecks gives the starters' health checks in the site's
// release compose file a timeout of 30 s instead of their Dockerfiles' 3 s.
// On the shared test machine (load averages of 20 to 60 on 2 cores) a
// check's fresh node or python process often takes longer than 3 s to
// answer: Docker's health log then shows "Health check exceeded timeout
// (3s)" for the old containers as well as the new ones, and a deploy
// rightly refuses a new container Docker calls unhealthy. What these tests
// prove is the deploy's handling of the containers, not the starters'
// timing; TestDeploy keeps the Dockerfiles' checks.
func (s *site) patientHealthChecks(t *testing.T) {
	t.Helper()
	file := filepath.Join(s.root, "docker-compose.release.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, c := range []struct{ after, check string }{
		{"    mem_limit: ${FRONTEND_MEMORY:-256m}\n", `["CMD", "node", "/opt/frontend/server.mjs", "--healthcheck"]`},
		{"    mem_limit: ${BACKEND_MEMORY:-512m}\n", `["CMD", "python3", "/opt/backend/server.py", "--healthcheck"]`},
	} {
		if !strings.Contains(text, c.after) {
			t.Fatalf("docker-compose.release.yaml has no %q: update the test", c.after)
		}
		text = strings.Replace(text, c.after, c.after+"    healthcheck:\n      test: "+c.check+"\n      interval: 2s\n      timeout: 30s\n      retries: 15\n      start_period: 10s\n", 1)
	}
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// imageOf is the project image each service of the site runs.
var imageOf = map[string]string{"frontend": "frontend", "backend": "backend", "worker": "backend", "beat": "backend", "nginx": "nginx", "bot": "bot"}

// stackContainer is what docker inspect says of one container.
type stackContainer struct {
	ID, Name, Image string
	State           struct {
		Status  string
		Running bool
	}
	Config struct{ Labels map[string]string }
}

func (c stackContainer) service() string { return c.Config.Labels["com.docker.compose.service"] }

// inspectProject inspects every container of a compose project, stopped
// and one-off ones too.
func inspectProject(t *testing.T, project string) []stackContainer {
	t.Helper()
	ids := containers(t, project, true)
	if len(ids) == 0 {
		return nil
	}
	var cs []stackContainer
	if err := json.Unmarshal([]byte(docker(t, append([]string{"inspect"}, ids...)...)), &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// onVersion checks with docker inspect that every service of the site
// runs exactly one container, on the image of version (by image ID: the
// proxy keeps its container while its image is the same), and that no
// other container of the project is left, running or not.
func (s *site) onVersion(t *testing.T, step, version string, services ...string) {
	t.Helper()
	project := s.prefix + "-release"
	ids := map[string]string{} // the images of the services checked
	for _, svc := range services {
		if image, built := imageOf[svc]; built && ids[image] == "" {
			ids[image] = docker(t, "image", "inspect", "--format", "{{.Id}}", s.vars["REGISTRY"]+"/"+image+":"+version)
		}
	}
	count := map[string]int{}
	var wrong []string
	for _, c := range inspectProject(t, project) {
		svc := c.service()
		count[svc]++
		switch image, built := imageOf[svc]; {
		case !c.State.Running:
			wrong = append(wrong, fmt.Sprintf("%s is left %s", c.Name, c.State.Status))
		case built && ids[image] != "" && c.Image != ids[image]:
			wrong = append(wrong, fmt.Sprintf("%s runs image %.19s, not %s's %s image %.19s", c.Name, c.Image, version, image, ids[image]))
		}
	}
	for _, svc := range services {
		if count[svc] != 1 {
			wrong = append(wrong, fmt.Sprintf("%d containers of %s, want one", count[svc], svc))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%s: %s; the containers:\n%s", step, strings.Join(wrong, "; "), docker(t, "ps", "-a", "--filter", "label=com.docker.compose.project="+project, "--format", "{{.Names}} {{.State}} {{.Image}} {{.Status}}"))
	}
}

// upstreamHost finds the hosts of nginx's upstreams in its configuration.
var upstreamHost = regexp.MustCompile(`set \$\w+ http://([A-Za-z0-9._-]+):\d+;`)

// checkPins checks that nginx sends each upstream to a service's name or
// to a container that runs: never to one that is gone.
func (s *site) checkPins(t *testing.T, step string) {
	t.Helper()
	project := s.prefix + "-release"
	conf := docker(t, "exec", project+"-nginx-1", "cat", "/tmp/conf.d/default.conf")
	hosts := upstreamHost.FindAllStringSubmatch(conf, -1)
	if len(hosts) == 0 {
		t.Fatalf("%s: no upstream in nginx's configuration:\n%s", step, conf)
	}
	for _, h := range hosts {
		if _, isService := imageOf[h[1]]; isService {
			continue
		}
		state, err := runDocker("inspect", "--format", "{{.State.Running}}", h[1])
		if err != nil || state != "true" {
			t.Errorf("%s: nginx is pinned to %s, which does not run (%s %v)", step, h[1], state, err)
		}
	}
}

// TestDeployWorkers: a copy of the project whose release compose file adds
// a worker and a stop-first beat on the backend image, and whose compose
// files add a sixth service on an image of its own (bot: built from the
// repository root with an additional build context), with no change to
// the tool. The bot's image is built (VERSION and latest), pushed with its
// cache and pulled. Under a steady load through nginx: the first deploy, then v2
// moves every service; a v3 whose worker never turns healthy and a v4
// whose beat never does leave nothing of theirs behind, every service on
// v2 and not one failed request, failing fast (not after -wait); then
// prod:rollback moves every service back to v1, and a second rollback
// finds nothing earlier instead of going forward.
func TestDeployWorkers(t *testing.T) {
	requireEngine(t)
	s := newSite(t)
	t.Cleanup(s.cleanup)
	s.addWorkers(t)
	s.addBot(t)
	s.patientHealthChecks(t)
	httpPort, httpsPort := freePort(t), freePort(t)
	base := []string{"HTTP_PORT=" + httpPort, "HTTPS_PORT=" + httpsPort,
		"BACKEND_RATE_LIMIT=10000r/s", "BACKEND_RATE_BURST=10000", "BACKEND_CONN_LIMIT=10000"}
	all := []string{"frontend", "backend", "worker", "beat", "nginx", "redis", "bot"}
	v1, v2, v3, v4 := "1.0.0", "1.1.0", "1.2.0", "1.3.0"
	builds := []string{"one", "two", "three", "four"}
	for i, v := range []string{v1, v2, v3, v4} {
		out := s.build(t, builds[i], v, true)
		if !strings.Contains(out, "\nbot ") || !strings.Contains(out, "built 6 images in ") {
			t.Errorf("docker:build of %s: no bot in the summary, or not 6 images:\n%s", v, out)
		}
	}
	for i, v := range []string{v1, v2, v3, v4} {
		s.checkBotImage(t, v, "build "+builds[i]+";")
	}
	s.checkBotImage(t, "latest", "build four;")
	s.checkBotPushPull(t, base, []string{v1, v2, v3, v4})

	s.mustMage(base, "prod:deploy", "-version="+v1)
	s.onVersion(t, "first deploy", v1, all...)
	c, err := loadtest.Client(filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"), "dtx.test", httpsPort)
	if err != nil {
		t.Fatal(err)
	}
	l := loadtest.Start(c, "https://dtx.test", builds)
	defer l.Close()
	run := func(name string, wantErr bool, wantLast string, args ...string) (string, time.Duration) {
		t.Helper()
		var out string
		var err error
		start := time.Now()
		n, failures, last := l.Phase(func() { out, err = s.mage(base, args...) })
		took := time.Since(start)
		t.Logf("%s: %d requests, %d failed (%d connection errors, %d 5xx, %d wrong bodies)", name, n.Sent, n.Failed(), n.ConnErrors, n.ServerErrors, n.WrongBodies)
		if (err != nil) != wantErr {
			t.Errorf("%s: error %v, want one: %v\n%s", name, err, wantErr, out)
		}
		if n.Failed() > 0 {
			t.Errorf("%s: %d of %d requests failed, the first of each kind:\n%s\nits output:\n%s", name, n.Failed(), n.Sent, strings.Join(failures, "\n"), out)
		}
		if last != wantLast {
			t.Errorf("%s: build %q answers now, want %q", name, last, wantLast)
		}
		if n.Sent < 10 {
			t.Errorf("%s: only %d requests: the load did not run", name, n.Sent)
		}
		return out, took
	}

	out, _ := run("deploy v2", false, "two", "prod:deploy", "-version="+v2)
	for _, want := range []string{"worker 1.1.0 is up", "beat 1.1.0 is up", "bot 1.1.0 is up", "step stop-first:", "timeline healthy ", "timeline total "} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy v2: no %q in:\n%s", want, out)
		}
	}
	s.onVersion(t, "deploy v2", v2, all...)
	beat := s.container(t, "beat")

	// The default -wait is 2 minutes: failing well within it is failing
	// on Docker's word, not on the timeout.
	out, took := run("v3, its worker never healthy", true, "two", "prod:deploy", "-version="+v3)
	if !strings.Contains(out, "worker 1.2.0 turned unhealthy") || !strings.Contains(out, "1.1.0 keeps serving") {
		t.Errorf("v3: no clear reason:\n%s", out)
	}
	if took > 100*time.Second {
		t.Errorf("v3 failed after %s: it waited for the timeout instead of Docker's unhealthy", took)
	}
	s.onVersion(t, "after v3", v2, all...)
	if after := s.container(t, "beat"); after.ID != beat.ID {
		t.Errorf("v3 replaced the stop-first beat (%s, then %s) though its worker failed first", beat.ID, after.ID)
	}

	out, _ = run("v4, its beat never healthy", true, "two", "prod:deploy", "-version="+v4)
	if !strings.Contains(out, "beat 1.3.0 turned unhealthy") || !strings.Contains(out, "the old ones of the stop-first workers start again, and 1.1.0 keeps serving") {
		t.Errorf("v4: no clear reason:\n%s", out)
	}
	s.onVersion(t, "after v4", v2, all...)
	if after := s.container(t, "beat"); after.ID != beat.ID {
		t.Errorf("the old beat %s was not started again: %s runs", beat.ID, after.ID)
	}

	out, _ = run("rollback", false, "one", "prod:rollback")
	if !strings.Contains(out, "rolling back from 1.1.0 to 1.0.0") {
		t.Errorf("rollback:\n%s", out)
	}
	s.onVersion(t, "rollback", v1, all...)
	out, err = s.mage(base, "prod:rollback")
	if err == nil || !strings.Contains(out, "no version was deployed before 1.0.0") {
		t.Errorf("a second rollback: %v\n%s", err, out)
	}
	s.onVersion(t, "second rollback", v1, all...)

	status := s.mustMage(base, "prod:status")
	for _, want := range []string{"release stack " + s.prefix + "-release: 1.0.0", " worker ", " beat ", " bot ", "1.3.0        failed", "turned unhealthy", "1.0.0        rolled-back from 1.1.0"} {
		if !strings.Contains(status, want) {
			t.Errorf("prod:status has no %q:\n%s", want, status)
		}
	}
}

// container is the one running container of service in the site's
// release stack.
func (s *site) container(t *testing.T, service string) stackContainer {
	t.Helper()
	var found []stackContainer
	for _, c := range inspectProject(t, s.prefix+"-release") {
		if c.service() == service && c.State.Running {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d running containers of %s, want one", len(found), service)
	}
	return found[0]
}

// runDocker runs the docker CLI and returns its trimmed output and error.
func runDocker(args ...string) (string, error) {
	out, err := exec.Command("docker", args...).Output()
	return strings.TrimSpace(string(out)), err
}
