// Package e2e runs the real mage targets against a real Docker engine, a real
// registry and the project's real images (the starter frontend and backend,
// nginx), over a throwaway copy of the project.
//
// It skips when no engine answers, unless DTX_E2E=required (as .ci/run sets
// it), when it fails instead.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/freeport"
	"github.com/kettleofketchup/dtx_website/internal/stack"
	"github.com/kettleofketchup/dtx_website/internal/testenv"
)

var repoRoot, _ = filepath.Abs("../..")

// requireEngine skips (or fails, under DTX_E2E=required) without an engine.
func requireEngine(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err == nil {
		if _, cerr := exec.Command("docker", "compose", "version").CombinedOutput(); cerr != nil {
			err = fmt.Errorf("docker compose plugin: %v", cerr)
		}
	}
	if err != nil {
		testenv.Missing(t, fmt.Sprintf("no Docker engine answers (%v: %s); bash .ci/engine.sh up starts one", err, strings.TrimSpace(string(out))))
	}
}

// site is a throwaway project folder and the variables its targets run with.
type site struct {
	t      *testing.T
	root   string
	prefix string // compose project prefix
	vars   map[string]string
}

func registryAddr() string {
	if r := os.Getenv("DTX_REGISTRY"); r != "" {
		return r
	}
	return "127.0.0.1:5000"
}

// siteFiles lists the project's files as git has them (tracked and new
// files, not ignored ones, nor deleted ones): what a fresh clone would hold,
// with the change under test.
func siteFiles(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var files []string
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if _, err := os.Stat(filepath.Join(repoRoot, f)); err == nil {
			files = append(files, f)
		}
	}
	return files
}

// newSite copies the project (siteFiles) into a temp folder. The targets run
// there with only the base images substituted where .ci/engine.sh says the
// engine cannot pull the official ones (its env.sh exports them), a registry
// path and compose project prefix of the test's own, and free ports.
func newSite(t *testing.T) *site {
	t.Helper()
	root := t.TempDir()
	for _, rel := range siteFiles(t) {
		copyFile(t, filepath.Join(repoRoot, rel), filepath.Join(root, rel))
	}
	prefix := fmt.Sprintf("dtxe2e%d", os.Getpid())
	vars := map[string]string{
		"COMPOSE_PROJECT_PREFIX": prefix,
		"REGISTRY":               registryAddr() + "/" + prefix,
		"VERSION":                fmt.Sprintf("0.%d.%d", time.Now().Unix()%100000, os.Getpid()),
		"PUBLISH_ADDRESS":        "127.0.0.1",
		"DOMAIN":                 "dtx.test",
	}
	for k, v := range baseImages() {
		vars[k] = v
	}
	return &site{t: t, root: root, prefix: prefix, vars: vars}
}

// baseImageVars are the variables that name a base image in the process
// environment (.ci/engine.sh's env.sh exports them where the engine cannot
// pull the official images): every *_BASE_IMAGE, and the compose files'
// REDIS_IMAGE.
func baseImageVars() []string {
	vars := []string{"REDIS_IMAGE"}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasSuffix(k, "_BASE_IMAGE") && !slices.Contains(vars, k) {
			vars = append(vars, k)
		}
	}
	return vars
}

// baseImages are the base-image substitutions of the process environment
// (set by .ci/engine.sh's env.sh on an engine that cannot pull); none where
// the official images can be pulled.
func baseImages() map[string]string {
	subst := map[string]string{}
	for _, k := range baseImageVars() {
		if v := os.Getenv(k); v != "" {
			subst[k] = v
		}
	}
	return subst
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(src)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// environ is the process environment of a target run: ours plus the site's
// variables plus extra KEY=value pairs.
func (s *site) environ(extra ...string) []string {
	env := os.Environ()
	for k, v := range s.vars {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

// mageCmd is the README's way in, `./dtx target…`, run in the site folder:
// the real tool, built from the copy's own sources.
func (s *site) mageCmd(ctx context.Context, extra []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "./dtx", args...)
	cmd.Dir = s.root
	cmd.Env = s.environ(extra...)
	return cmd
}

// mage runs a target to its end and returns its combined output.
func (s *site) mage(extra []string, args ...string) (string, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := s.mageCmd(ctx, extra, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	s.t.Logf("mage %s (%s): %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err)
	return out.String(), err
}

// mustMage runs a target that must succeed.
func (s *site) mustMage(extra []string, args ...string) string {
	s.t.Helper()
	out, err := s.mage(extra, args...)
	if err != nil {
		s.t.Fatalf("mage %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// docker runs the docker CLI to inspect what the targets did.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// containers lists the IDs of a compose project's containers (all=true:
// stopped ones too).
func containers(t *testing.T, project string, all bool) []string {
	args := []string{"ps", "-q", "--filter", "label=com.docker.compose.project=" + project}
	if all {
		args = append(args, "-a")
	}
	return strings.Fields(docker(t, args...))
}

func networks(t *testing.T, project string) []string {
	return strings.Fields(docker(t, "network", "ls", "-q", "--filter", "label=com.docker.compose.project="+project))
}

// client talks to nginx on 127.0.0.1 whatever the host name, trusts only the
// certificate in caFile, and does not follow redirects.
func client(t *testing.T, httpPort, httpsPort, caFile string) *http.Client {
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(caFile)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA %s: %v", caFile, err)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				if port == "443" || port == httpsPort {
					port = httpsPort
				} else {
					port = httpPort
				}
				return dialer.DialContext(ctx, network, "127.0.0.1:"+port)
			},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, c *http.Client, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// eventually retries f for up to d.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after %s: %v", what, d, err)
}

// cleanup removes everything of the site from the engine: its stacks, their
// networks and its images. It reports, never fails the test for it, so that
// a teardown error never hides the test's own error.
func (s *site) cleanup() {
	for _, env := range stack.EnvironmentNames() {
		project := s.prefix + "-" + env
		ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+project).Output()
		nets, _ := exec.Command("docker", "network", "ls", "-q", "--filter", "label=com.docker.compose.project="+project).Output()
		if len(bytes.TrimSpace(ids)) == 0 && len(bytes.TrimSpace(nets)) == 0 {
			continue
		}
		if out, err := s.mage([]string{"VERSION=" + s.vars["VERSION"]}, "stack:down", env); err != nil {
			s.t.Logf("cleanup: stack:down %s: %v\n%s", env, err, out)
		}
	}
	// By reference, not by ID: `rmi -f ID` would also untag every other
	// name of that image (a parallel run's, the user's ghcr.io tags), and
	// the site's images share IDs with them when the builds hit the cache.
	refs, _ := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference="+s.vars["REGISTRY"]+"/*").Output()
	if names := strings.Fields(string(refs)); len(names) > 0 {
		if out, err := exec.Command("docker", append([]string{"rmi"}, names...)...).CombinedOutput(); err != nil {
			s.t.Logf("cleanup: rmi: %v\n%s", err, out)
		}
	}
}

// sweepStale removes what an earlier run of this suite left behind when it
// was killed before its cleanup (a timeout, say): the containers, networks
// and images of dtxe2e<pid> projects whose process is gone. Nothing else is
// touched.
func sweepStale(t *testing.T) {
	t.Helper()
	out, _ := exec.Command("docker", "ps", "-a", "--format", `{{.ID}} {{.Label "com.docker.compose.project"}}`).Output()
	stale := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		id, project, ok := strings.Cut(line, " ")
		if prefix, alive := staleOwner(project); ok && prefix != "" && !alive {
			stale[prefix] = append(stale[prefix], id)
		}
	}
	nets, _ := exec.Command("docker", "network", "ls", "--format", `{{.ID}} {{.Label "com.docker.compose.project"}}`).Output()
	imgs, _ := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}} {{.Repository}}").Output()
	for prefix, ids := range stale {
		t.Logf("removing leftovers of an earlier run: %s", prefix)
		exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		for _, line := range strings.Split(string(nets), "\n") {
			if id, project, ok := strings.Cut(line, " "); ok && strings.HasPrefix(project, prefix+"-") {
				exec.Command("docker", "network", "rm", id).Run()
			}
		}
		for _, line := range strings.Split(string(imgs), "\n") {
			if ref, repo, ok := strings.Cut(line, " "); ok && strings.HasPrefix(repo, registryAddr()+"/"+prefix+"/") {
				exec.Command("docker", "rmi", ref).Run() // by reference: see cleanup
			}
		}
	}
}

// staleOwner returns the dtxe2e<pid> prefix of a project name and whether
// that pid still runs.
func staleOwner(project string) (string, bool) {
	rest, ok := strings.CutPrefix(project, "dtxe2e")
	if !ok {
		return "", true
	}
	pid, _, _ := strings.Cut(rest, "-")
	if _, err := os.Stat("/proc/" + pid); err == nil {
		return "dtxe2e" + pid, true
	}
	return "dtxe2e" + pid, false
}

// freePort returns a port on 127.0.0.1 for a server a test starts; see
// internal/freeport for why not port 0.
func freePort(t *testing.T) string {
	t.Helper()
	port, err := freeport.Take()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(port)
}
