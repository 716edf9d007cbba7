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
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/freeport"
	"github.com/kettleofketchup/dtx_website/internal/testenv"
	"github.com/kettleofketchup/dtx_website/internal/testsite"
)

// requireEngine skips (or fails, under DTX_E2E=required) without an engine.
func requireEngine(t *testing.T) {
	t.Helper()
	if err := testsite.CheckEngine(t.Context()); err != nil {
		testenv.Missing(t, err.Error())
	}
}

// site is the suites' view of a testsite.Site: the site, reporting to t.
type site struct {
	t      *testing.T
	ts     *testsite.Site
	root   string            // ts.Root
	prefix string            // ts.Prefix: the compose project prefix
	vars   map[string]string // ts.Vars, the same map: a change is the site's
}

// newSite is how a suite starts: an engine, or a skip (a failure under
// DTX_E2E=required); the leftovers of killed runs swept; the project copied
// as git has it, with the variables of testsite.Make; and the site's
// stacks and images removed when t ends.
func newSite(t *testing.T) *site {
	t.Helper()
	requireEngine(t)
	ts := testsite.New(t, testsite.E2E)
	return &site{t: t, ts: ts, root: ts.Root, prefix: ts.Prefix, vars: ts.Vars}
}

// cleanup removes the site's stacks and images now (newSite has it done
// when the test ends as well; a second time finds nothing).
func (s *site) cleanup() { s.ts.Cleanup(s.t.Logf) }

// mageCmd is the README's way in, `./dtx target…`, run in the site folder:
// the real tool, built from the copy's own sources.
func (s *site) mageCmd(ctx context.Context, extra []string, args ...string) *exec.Cmd {
	return s.ts.Command(ctx, extra, args...)
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
