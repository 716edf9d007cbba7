package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// inspected is what `docker inspect` says of a container, as far as the
// hardening goes.
type inspected struct {
	ID     string
	Name   string
	Config struct {
		User   string
		Labels map[string]string
	}
	Mounts []struct {
		Source, Destination string
	}
	HostConfig struct {
		Memory         int64
		CpuShares      int64
		PidsLimit      *int64
		ReadonlyRootfs bool
		SecurityOpt    []string
		CapDrop        []string
		CapAdd         []string
		LogConfig      struct {
			Type   string
			Config map[string]string
		}
	}
}

// checkHardened asserts, through docker inspect, what the CIS Docker
// Benchmark's checks 4.1, 5.11, 5.12, 5.13, 5.26 and 5.29 look at, no
// capability added back, and bounded logs, on every running container of a
// prod or release project, nginx included; that every process in them runs
// as a user that is not root; and that the private keys nginx reads are its
// user's alone.
func checkHardened(t *testing.T, project string) {
	t.Helper()
	ids := containers(t, project, false)
	if len(ids) != 4 {
		t.Fatalf("%s: %d containers running, want 4", project, len(ids))
	}
	var all []inspected
	if err := json.Unmarshal([]byte(docker(t, append([]string{"inspect"}, ids...)...)), &all); err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		service := c.Config.Labels["com.docker.compose.service"]
		h := c.HostConfig
		var problems []string
		if h.Memory <= 0 {
			problems = append(problems, "no memory limit (5.11)")
		}
		if h.CpuShares == 0 || h.CpuShares == 1024 {
			problems = append(problems, fmt.Sprintf("CPU shares %d (5.12)", h.CpuShares))
		}
		if !h.ReadonlyRootfs {
			problems = append(problems, "writable root filesystem (5.13)")
		}
		if !slices.Contains(h.SecurityOpt, "no-new-privileges:true") {
			problems = append(problems, fmt.Sprintf("security options %v, no no-new-privileges (5.26)", h.SecurityOpt))
		}
		if h.PidsLimit == nil || *h.PidsLimit <= 0 {
			problems = append(problems, "no PIDs limit (5.29)")
		}
		if !slices.Contains(h.CapDrop, "ALL") {
			problems = append(problems, fmt.Sprintf("capabilities dropped %v, not ALL", h.CapDrop))
		}
		if h.LogConfig.Type != "json-file" || h.LogConfig.Config["max-size"] == "" || h.LogConfig.Config["max-file"] == "" {
			problems = append(problems, fmt.Sprintf("unbounded logs %+v", h.LogConfig))
		}
		if len(h.CapAdd) > 0 {
			problems = append(problems, fmt.Sprintf("capabilities added %v", normalizeCaps(h.CapAdd)))
		}
		if u := c.Config.User; u == "" || u == "0" || u == "root" || strings.HasPrefix(u, "0:") {
			problems = append(problems, fmt.Sprintf("runs as %q, root (4.1)", u))
		}
		// What the kernel says, beyond the configuration: nginx's master too.
		if root := rootProcesses(t, c.ID); len(root) > 0 {
			problems = append(problems, fmt.Sprintf("processes running as root: %s", strings.Join(root, ", ")))
		}
		if service == "nginx" {
			problems = append(problems, keysNotNginxs(c)...)
		}
		if len(problems) > 0 {
			t.Errorf("%s %s: %s", project, service, strings.Join(problems, "; "))
		}
	}
}

// rootProcesses lists the processes of a container that run as root
// (real or effective user 0), as "PID COMMAND". runc's own init, which
// starts a health check's exec and becomes it, is not the container's.
func rootProcesses(t *testing.T, id string) []string {
	t.Helper()
	lines := strings.Split(docker(t, "top", id, "-o", "pid,ruid,euid,comm"), "\n")
	var root []string
	for _, line := range lines[1:] { // after the header
		f := strings.Fields(line)
		if len(f) >= 4 && (f[1] == "0" || f[2] == "0") && !strings.HasPrefix(f[3], "runc:") {
			root = append(root, f[0]+" "+f[3])
		}
	}
	return root
}

// keysNotNginxs checks the private keys nginx's container reads, found
// through its mounts (the tool's in /etc/nginx/ssl, certbot's live ones in
// /etc/letsencrypt): each must belong to the user nginx runs as, mode 0600,
// so that it reads them without root and nobody else can.
func keysNotNginxs(c inspected) []string {
	uid, _, _ := strings.Cut(c.Config.User, ":")
	var problems []string
	for _, m := range c.Mounts {
		var keys []string
		switch m.Destination {
		case "/etc/nginx/ssl":
			keys = []string{filepath.Join(m.Source, "privkey.pem")}
		case "/etc/letsencrypt":
			keys, _ = filepath.Glob(filepath.Join(m.Source, "live", "*", "privkey.pem"))
		}
		for _, key := range keys {
			info, err := os.Stat(key)
			if err != nil {
				problems = append(problems, fmt.Sprintf("key %s: %v", key, err))
				continue
			}
			owner := info.Sys().(*syscall.Stat_t).Uid
			if fmt.Sprint(owner) != uid || info.Mode().Perm() != 0o600 {
				problems = append(problems, fmt.Sprintf("key %s: owner %d mode %o, want nginx's user %s and 0600", key, owner, info.Mode().Perm(), uid))
			}
		}
	}
	return problems
}

// normalizeCaps sorts capability names with their CAP_ prefix (the engine
// reports them as given).
func normalizeCaps(caps []string) []string {
	var out []string
	for _, c := range caps {
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// securityHeaders are the headers every HTTPS answer of nginx carries.
var securityHeaders = map[string]string{
	"X-Content-Type-Options":  "nosniff",
	"X-Frame-Options":         "DENY",
	"Content-Security-Policy": "frame-ancestors 'none'",
	"Referrer-Policy":         "strict-origin-when-cross-origin",
}

// checkHeaders asserts the security headers (and HSTS) on an answer of the
// status wanted.
func checkHeaders(t *testing.T, c *http.Client, url string, status int) {
	t.Helper()
	code, h, _ := get(t, c, url)
	if code != status {
		t.Errorf("GET %s: %d, want %d", url, code, status)
	}
	for name, want := range securityHeaders {
		if got := h.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("GET %s (%d): %s %q, want one %q", url, code, name, got, want)
		}
	}
	if !strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("GET %s (%d): no HSTS", url, code)
	}
}

// checkRateLimit sends a burst to a backend path, 150 requests truly at
// once (one goroutine each, released together), which nginx answers 429
// beyond its burst (40) and rate (20 a second), and the same burst to the
// ACME path, which is never limited; then a normal visitor's pace, which
// always passes.
func checkRateLimit(t *testing.T, c *http.Client, host string) {
	t.Helper()
	const n = 150
	start := time.Now()
	burst := concurrently(t, c, "https://"+host+"/api/burst", n)
	took := time.Since(start)
	// What nginx may let through in that time: the burst, plus the rate.
	allowed := 40 + 1 + int(20*took.Seconds())
	if burst[429] == 0 || burst[200]+burst[429] != n || burst[200] > allowed {
		t.Errorf("%d requests at once to /api (in %s): %v, want at most %d × 200 and the rest 429", n, took.Round(time.Millisecond), burst, allowed)
	}
	t.Logf("%d requests at once to /api in %s: %v", n, took.Round(time.Millisecond), burst)
	if acme := concurrently(t, c, "http://"+host+"/.well-known/acme-challenge/e2e-token", n); acme[200] != n {
		t.Errorf("%d requests at once to the ACME path: %v, want %d × 200 (never limited)", n, acme, n)
	}
	time.Sleep(3 * time.Second) // the bucket refills at 20 a second
	pace := map[int]int{}
	for range 15 {
		code, _, _ := get(t, c, "https://"+host+"/api/pace")
		pace[code]++
		time.Sleep(200 * time.Millisecond)
	}
	if pace[200] != 15 {
		t.Errorf("15 requests at 5 a second: %v, want all 200", pace)
	}
}

// concurrently sends n GET requests to url at once: n goroutines, each one
// request, released together, all bounded by 30 s. It counts the statuses;
// a request that fails counts as status 0 and is reported.
func concurrently(t *testing.T, c *http.Client, url string, n int) map[int]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var (
		mu     sync.Mutex
		seen   = map[int]int{}
		errs   []string
		wg     sync.WaitGroup
		starts = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-starts
			code := 0
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := c.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			defer mu.Unlock()
			seen[code]++
			if err != nil && len(errs) < 3 {
				errs = append(errs, err.Error())
			}
		}()
	}
	close(starts)
	wg.Wait()
	if seen[0] > 0 {
		t.Errorf("%d of %d requests to %s failed, the first: %s", seen[0], n, url, strings.Join(errs, "; "))
	}
	return seen
}
