// Package nginx holds the image's files; this test runs its entrypoint's
// render step with a POSIX sh, outside the image, through the DTX_* paths
// the script exposes for it.
package nginx

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/freeport"
	"github.com/kettleofketchup/dtx_website/internal/testenv"
)

// shells are the shells the entrypoint must work under: the default sh
// (dash on Debian, where the end-to-end image runs) and busybox's (the
// nginx:alpine base image's).
var shells = [][]string{{"sh"}, {"busybox", "sh"}}

// eachShell runs test once per shell, as a subtest named after it. A
// missing busybox skips its subtest, or fails it under DTX_E2E=required.
func eachShell(t *testing.T, test func(t *testing.T, shell []string)) {
	for _, sh := range shells {
		t.Run(strings.Join(sh, " "), func(t *testing.T) {
			testenv.NeedCommand(t, sh[0], "apt-get install busybox; .ci/engine.sh up installs it")
			test(t, sh)
		})
	}
}

// render runs `entrypoint.sh render` under shell with env and returns the
// site config it wrote, or the one-line error it gave.
func render(t *testing.T, shell []string, env ...string) (string, error) {
	t.Helper()
	testenv.NeedCommand(t, "envsubst", "apt-get install gettext-base; .ci/engine.sh up installs it")
	dir := t.TempDir()
	ssl := filepath.Join(dir, "ssl")
	os.Mkdir(ssl, 0o755)
	for _, f := range []string{"fullchain.pem", "privkey.pem"} {
		os.WriteFile(filepath.Join(ssl, f), []byte("placeholder"), 0o600)
	}
	conf := filepath.Join(dir, "default.conf")
	cmd := exec.Command(shell[0], append(shell[1:], "entrypoint.sh", "render")...)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"DTX_TEMPLATE=default.template.conf",
		"DTX_SITE_CONF=" + conf,
		"DTX_SSL_DIR=" + ssl,
		"DTX_LETSENCRYPT_DIR=" + filepath.Join(dir, "live"),
	}, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &renderError{strings.TrimSpace(string(out))}
	}
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	return string(data), nil
}

type renderError struct{ msg string }

func (e *renderError) Error() string { return e.msg }

func TestRedirectKeepsThePublicHTTPSPort(t *testing.T) {
	eachShell(t, testRedirectKeepsThePublicHTTPSPort)
}

func testRedirectKeepsThePublicHTTPSPort(t *testing.T, sh []string) {
	for _, c := range []struct{ port, want string }{
		{"", "return 301 https://$host$request_uri;"},
		{"443", "return 301 https://$host$request_uri;"},
		{"8443", "return 301 https://$host:8443$request_uri;"},
	} {
		conf, err := render(t, sh, "DOMAIN=example.com", "PUBLIC_HTTPS_PORT="+c.port)
		if err != nil {
			t.Fatalf("PUBLIC_HTTPS_PORT=%q: %v", c.port, err)
		}
		if !strings.Contains(conf, c.want) {
			t.Errorf("PUBLIC_HTTPS_PORT=%q: no %q in:\n%s", c.port, c.want, conf)
		}
	}
}

func TestRenderFillsOnlyItsOwnVariables(t *testing.T) {
	eachShell(t, testRenderFillsOnlyItsOwnVariables)
}

func testRenderFillsOnlyItsOwnVariables(t *testing.T, sh []string) {
	conf, err := render(t, sh, "DOMAIN=example.com", "HSTS_HEADER=max-age=1", "HOME=/should/not/appear")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"server_name example.com www.example.com;",
		`add_header Strict-Transport-Security "max-age=1" always;`,
		"proxy_set_header Host $host;", // nginx's own variables are left alone
		"set $backend http://backend:8000;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("no %q in the rendered config", want)
		}
	}
	if strings.Contains(conf, "${") {
		t.Errorf("unrendered ${…} left:\n%s", conf)
	}
}

// TestRenderRejectsInjection: every value the renderer substitutes is
// checked, with one line naming the variable (issue 8, finding 5: a CR LF
// in HSTS_HEADER added a Set-Cookie header to every response).
func TestRenderRejectsInjection(t *testing.T) {
	eachShell(t, func(t *testing.T, sh []string) {
		for _, c := range []struct{ name, env, want string }{
			{"port with nginx syntax", "PUBLIC_HTTPS_PORT=443; return 200", "PUBLIC_HTTPS_PORT"},
			{"domain with nginx syntax", "DOMAIN=example.com;evil", "DOMAIN"},
			{"quote in HSTS_HEADER", `HSTS_HEADER=max-age=1" always; add_header X "y`, "HSTS_HEADER"},
			{"CR LF in HSTS_HEADER", "HSTS_HEADER=max-age=1\r\nSet-Cookie: pwned=1", "HSTS_HEADER contains a control character"},
			{"LF in HSTS_HEADER", "HSTS_HEADER=max-age=1\nX: y", "HSTS_HEADER contains a control character"},
			{"tab in HSTS_HEADER", "HSTS_HEADER=max-age=1\tx", "HSTS_HEADER contains a control character"},
			{"LF in DOMAIN", "DOMAIN=example.com\nevil", "DOMAIN contains a control character"},
			{"CR in an upstream", "BACKEND_UPSTREAM=backend:8000\r", "BACKEND_UPSTREAM contains a control character"},
			{"DOMAIN ..", "DOMAIN=..", "DOMAIN='..' is not a valid DNS name"},
			{"DOMAIN leading dash", "DOMAIN=-example.com", "DOMAIN='-example.com' is not a valid DNS name"},
			{"DOMAIN label ending with a dash", "DOMAIN=example-.com", "is not a valid DNS name"},
			{"DOMAIN empty label", "DOMAIN=a..example.com", "is not a valid DNS name"},
			{"DOMAIN long label", "DOMAIN=" + strings.Repeat("a", 64) + ".com", "DOMAIN has a label longer than 63 characters"},
			{"port out of range", "PUBLIC_HTTPS_PORT=99999999", "PUBLIC_HTTPS_PORT='99999999' is not a port: use a number from 1 to 65535"},
			{"port 65536", "PUBLIC_HTTPS_PORT=65536", "is not a port"},
			{"port 0", "PUBLIC_HTTPS_PORT=0", "is not a port"},
			{"CR LF in a security header", "FRAME_OPTIONS_HEADER=DENY\r\nSet-Cookie: pwned=1", "FRAME_OPTIONS_HEADER contains a control character"},
			{"quote in CSP_HEADER", `CSP_HEADER=a" always; add_header X "y`, "CSP_HEADER must not contain"},
			{"$ in REFERRER_POLICY_HEADER", "REFERRER_POLICY_HEADER=$host", "REFERRER_POLICY_HEADER must not contain"},
			{"rate without unit", "BACKEND_RATE_LIMIT=20", "BACKEND_RATE_LIMIT='20' is not a rate"},
			{"rate with nginx syntax", "BACKEND_RATE_LIMIT=20r/s; x", "BACKEND_RATE_LIMIT"},
			{"rate zero", "BACKEND_RATE_LIMIT=0r/s", "is not a rate"},
			{"burst not a number", "BACKEND_RATE_BURST=many", "BACKEND_RATE_BURST"},
			{"connections zero", "BACKEND_CONN_LIMIT=0", "BACKEND_CONN_LIMIT='0' is not a count"},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := render(t, sh, "DOMAIN=example.com", c.env)
				if err == nil {
					t.Fatalf("%q: rendered", c.env)
				}
				if msg := err.Error(); strings.Count(msg, "\n") > 0 || !strings.Contains(msg, c.want) {
					t.Fatalf("%q: want one line containing %q, got %q", c.env, c.want, msg)
				}
			})
		}
		for _, ok := range []string{"DOMAIN=a.b-c.example", "DOMAIN=" + strings.Repeat("a", 63) + ".com", "PUBLIC_HTTPS_PORT=65535", "PUBLIC_HTTPS_PORT=1"} {
			if _, err := render(t, sh, "DOMAIN=example.com", ok); err != nil {
				t.Errorf("%q refused: %v", ok, err)
			}
		}
	})
}

// TestRenderRefusesAKeyNginxCannotRead: nginx runs as a user that is not
// root, so a private key that is another user's (or a folder it cannot
// enter on the way) stops render with one line naming it, and never makes
// it fall back from certbot's certificate to the self-signed one.
func TestRenderRefusesAKeyNginxCannotRead(t *testing.T) {
	eachShell(t, func(t *testing.T, sh []string) {
		testenv.NeedCommand(t, "envsubst", "apt-get install gettext-base; .ci/engine.sh up installs it")
		for _, c := range []struct {
			name, lock, want string // lock: the path made another user's
			folder, certbot  bool   // certbot: certbot's pair is there too
		}{
			{"every key nginx's", "", "", false, true},
			{"the tool's key (debug, test)", "ssl/privkey.pem", "ssl/privkey.pem: nginx's user (uid %d) cannot read this private key", false, false},
			{"certbot's key", "archive/example.com/privkey1.pem", "live/example.com/privkey.pem: nginx's user (uid %d) cannot read this private key", false, true},
			{"certbot's live folder", "live", "live: nginx's user (uid %d) cannot enter this folder", true, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				dir, asNginx := unprivileged(t)
				for _, f := range []string{"ssl/fullchain.pem", "ssl/privkey.pem", "archive/example.com/fullchain1.pem", "archive/example.com/privkey1.pem"} {
					os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
					writeFile(t, filepath.Join(dir, f), "placeholder")
				}
				// certbot's layout: live/NAME/ links into archive/NAME/.
				for _, f := range []string{"fullchain", "privkey"} {
					if !c.certbot {
						break
					}
					os.MkdirAll(filepath.Join(dir, "live/example.com"), 0o755)
					if err := os.Symlink("../../archive/example.com/"+f+"1.pem", filepath.Join(dir, "live/example.com", f+".pem")); err != nil {
						t.Fatal(err)
					}
				}
				giveAll(t, dir)
				if c.lock != "" {
					lockAway(t, filepath.Join(dir, c.lock), c.folder)
				}
				cmd := exec.Command(sh[0], append(sh[1:], filepath.Join(dir, "entrypoint.sh"), "render")...)
				cmd.Env = []string{
					"PATH=" + os.Getenv("PATH"),
					"DOMAIN=example.com",
					"DTX_TEMPLATE=" + filepath.Join(dir, "default.template.conf"),
					"DTX_SITE_CONF=" + filepath.Join(dir, "conf.d/default.conf"),
					"DTX_SSL_DIR=" + filepath.Join(dir, "ssl"),
					"DTX_LETSENCRYPT_DIR=" + filepath.Join(dir, "live"),
				}
				asNginx(cmd)
				out, err := cmd.CombinedOutput()
				msg := strings.TrimSpace(string(out))
				if c.want == "" {
					conf, rerr := os.ReadFile(filepath.Join(dir, "conf.d/default.conf"))
					if err != nil || rerr != nil || !strings.Contains(string(conf), "ssl_certificate_key "+filepath.Join(dir, "live/example.com/privkey.pem")+";") {
						t.Fatalf("render: %v, %v: %s\n%s", err, rerr, msg, conf)
					}
					return
				}
				want := filepath.Join(dir, fmt.Sprintf(c.want, runUID()))
				if err == nil || strings.Count(msg, "\n") > 0 || !strings.Contains(msg, want) {
					t.Fatalf("want one line with %q, got %v:\n%s", want, err, msg)
				}
			})
		}
	})
}

// lockAway makes path unreadable (a folder: unenterable) to the user the
// test's nginx runs as: root's when the test runs as root, else mode 0 for
// the test's own user.
func lockAway(t *testing.T, path string, folder bool) {
	t.Helper()
	var err error
	switch {
	case os.Geteuid() == 0 && folder:
		if err = os.Chown(path, 0, 0); err == nil {
			err = os.Chmod(path, 0o700)
		}
	case os.Geteuid() == 0:
		err = os.Chown(path, 0, 0) // mode 0600 kept: root's key
	default:
		err = os.Chmod(path, 0)
		t.Cleanup(func() { os.Chmod(path, 0o755) }) // so that TempDir can remove it
	}
	if err != nil {
		t.Fatal(err)
	}
}

// runUID is the user id the test's nginx runs as (see unprivileged).
func runUID() int {
	if os.Geteuid() == 0 {
		return nginxUID
	}
	return os.Geteuid()
}

// TestReloadServesTheNewCertificateAtOnce runs a real nginx (the host's)
// and `dtx-nginx reload` after each of several certificate changes: as soon
// as reload returns, every new connection must get the new certificate.
// (`nginx -s reload` alone returns before the old workers stop accepting.)
// nginx and the entrypoint run as a user that is not root, as in the image:
// reload must work without root, and the key be that user's.
func TestReloadServesTheNewCertificateAtOnce(t *testing.T) {
	testenv.NeedCommand(t, "nginx", "apt-get install nginx-light; .ci/engine.sh up installs it")
	testenv.NeedCommand(t, "envsubst", "apt-get install gettext-base; .ci/engine.sh up installs it")
	dir, asNginx := unprivileged(t)
	port, err := freeport.Take()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	live := filepath.Join(dir, "live")
	writeFile(t, filepath.Join(dir, "site.template"), fmt.Sprintf(`server {
    listen %s ssl;
    ssl_certificate     ${SSL_CERTIFICATE};
    ssl_certificate_key ${SSL_CERTIFICATE_KEY};
    return 200 "ok\n";
}
`, addr))
	conf := filepath.Join(dir, "nginx.conf")
	writeFile(t, conf, fmt.Sprintf(`worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp;
    proxy_temp_path %[1]s/tmp;
    include %[1]s/site.conf;
}
`, dir))
	env := append(os.Environ(),
		"DOMAIN=reload.test",
		"DTX_TEMPLATE="+filepath.Join(dir, "site.template"),
		"DTX_SITE_CONF="+filepath.Join(dir, "site.conf"),
		"DTX_LETSENCRYPT_DIR="+live,
		"DTX_SSL_DIR="+filepath.Join(dir, "none"),
		"DTX_PID_FILE="+filepath.Join(dir, "nginx.pid"),
		"DTX_NGINX_CONF="+conf,
	)
	entrypoint := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("sh", append([]string{filepath.Join(dir, "entrypoint.sh")}, args...)...)
		cmd.Env = env
		asNginx(cmd)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dtx-nginx %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	newCert := func() *x509.Certificate {
		t.Helper()
		certPEM, keyPEM, err := certs.SelfSigned([]string{"reload.test"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(live, "reload.test"), 0o755)
		writeFile(t, filepath.Join(live, "reload.test/fullchain.pem"), string(certPEM))
		writeFile(t, filepath.Join(live, "reload.test/privkey.pem"), string(keyPEM))
		giveAll(t, dir) // the key 0600, nginx's user's: as the tool makes it
		cert, err := certs.Read(filepath.Join(live, "reload.test/fullchain.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}

	want := newCert()
	entrypoint("render")
	nginx := exec.Command("nginx", "-e", "stderr", "-c", conf, "-g", "daemon off;")
	nginx.Stdout, nginx.Stderr = os.Stderr, os.Stderr
	asNginx(nginx)
	if err := nginx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nginx.Process.Signal(syscall.SIGQUIT)
		done := make(chan struct{})
		go func() { nginx.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			nginx.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "nginx.pid")); err == nil {
			if _, err := leaf(addr); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not start within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if uid := processUID(t, nginx.Process.Pid); uid == 0 {
		t.Fatal("the nginx master runs as root")
	}

	var took []time.Duration
	defer func() {
		slices.Sort(took)
		if len(took) > 0 {
			t.Logf("dtx-nginx reload: median %s over %d reloads", took[len(took)/2].Round(time.Millisecond), len(took))
		}
	}()
	for round := range 8 {
		if got, err := leaf(addr); err != nil || !got.Equal(want) {
			t.Fatalf("round %d: before reload: %v, serial %v, want %s", round, err, got.SerialNumber, want.SerialNumber)
		}
		want = newCert()
		began := time.Now()
		if out := entrypoint("reload"); !strings.Contains(out, "reloaded nginx") {
			t.Fatalf("round %d: reload said:\n%s", round, out)
		}
		took = append(took, time.Since(began))
		for i := range 4 {
			got, err := leaf(addr)
			if err != nil {
				t.Fatalf("round %d, connection %d: %v", round, i, err)
			}
			if !got.Equal(want) {
				t.Fatalf("round %d, connection %d right after reload: serial %s, want the new %s", round, i, got.SerialNumber, want.SerialNumber)
			}
		}
	}
}

// nginxUID and nginxGID are the user the image runs nginx as (nginx/Dockerfile).
const nginxUID, nginxGID = 101, 101

// unprivileged returns a folder for a test's nginx and a function that makes
// a command run as a user that is not root: the test's own user, or, when
// the test runs as root (as CI does), the image's nginx user, which then
// owns the folder (see giveAll). The folder holds a copy of the entrypoint
// and the template, which that user may not reach in the checkout.
func unprivileged(t *testing.T) (dir string, as func(*exec.Cmd)) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range []string{"entrypoint.sh", "default.template.conf"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f), string(data))
	}
	if os.Geteuid() != 0 {
		return dir, func(*exec.Cmd) {}
	}
	// t.TempDir's parent is 0700: let nginx's user through to its folder.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	giveAll(t, dir)
	return dir, func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nginxUID, Gid: nginxGID}}
	}
}

// giveAll makes dir and everything in it nginx's user's when the test runs
// as root (see unprivileged); modes are kept, private keys 0600.
func giveAll(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, nginxUID, nginxGID)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// processUID is the real user id of a running process.
func processUID(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			uid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return uid
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return -1
}

// leaf is the certificate nginx at addr serves for reload.test.
func leaf(addr string) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: "reload.test", InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Every HTTPS answer carries the security headers, each overridable, and
// an empty one is no header at all; the backend's paths get the limits,
// the ACME challenge none.
func TestRenderSecurityHeadersAndLimits(t *testing.T) {
	eachShell(t, func(t *testing.T, sh []string) {
		for _, c := range []struct {
			name      string
			env       []string
			want, not []string
		}{
			{"defaults", nil, []string{
				`add_header X-Content-Type-Options "nosniff" always;`,
				`add_header X-Frame-Options "DENY" always;`,
				`add_header Content-Security-Policy "frame-ancestors 'none'" always;`,
				`add_header Referrer-Policy "strict-origin-when-cross-origin" always;`,
				"limit_req_zone $binary_remote_addr zone=dtx_backend:10m rate=20r/s;",
				"limit_req zone=dtx_backend burst=40 nodelay;",
				"limit_conn dtx_backend_conn 40;",
			}, nil},
			{"a site framed elsewhere", []string{"FRAME_OPTIONS_HEADER=", "CSP_HEADER=frame-ancestors https://partner.example"}, []string{
				`add_header X-Frame-Options "" always;`,
				`add_header Content-Security-Policy "frame-ancestors https://partner.example" always;`,
			}, []string{`"DENY"`}},
			{"other limits", []string{"BACKEND_RATE_LIMIT=600r/m", "BACKEND_RATE_BURST=5", "BACKEND_CONN_LIMIT=3"}, []string{
				"rate=600r/m;", "burst=5 nodelay;", "limit_conn dtx_backend_conn 3;",
			}, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				conf, err := render(t, sh, append([]string{"DOMAIN=example.com"}, c.env...)...)
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range c.want {
					if !strings.Contains(conf, w) {
						t.Errorf("no %q in the rendered config", w)
					}
				}
				for _, n := range c.not {
					if strings.Contains(conf, n) {
						t.Errorf("%q in the rendered config", n)
					}
				}
				acme := conf[strings.Index(conf, "listen 8080;"):strings.Index(conf, "listen 8443")]
				if strings.Contains(acme, "limit_") {
					t.Errorf("the port-80 server (ACME challenge) is limited:\n%s", acme)
				}
			})
		}
	})
}

// A setting given as a file (VAR_FILE, as a Swarm stack gives the values
// of a .local env file) reaches the config, over the variable itself; a
// file that is not there stops render with one line naming the variable.
func TestSettingsFromFiles(t *testing.T) {
	eachShell(t, func(t *testing.T, sh []string) {
		dir := t.TempDir()
		file := func(name, content string) string {
			p := filepath.Join(dir, name)
			writeFile(t, p, content)
			return p
		}
		conf, err := render(t, sh,
			"DOMAIN=localhost", "DOMAIN_FILE="+file("DOMAIN", "files.example\n"),
			"HSTS_HEADER_FILE="+file("HSTS_HEADER", "max-age=600; includeSubDomains"),
			"FRAME_OPTIONS_HEADER_FILE="+file("FRAME_OPTIONS_HEADER", "SAMEORIGIN"),
			"BACKEND_RATE_LIMIT_FILE="+file("BACKEND_RATE_LIMIT", "7r/s"),
			"BACKEND_UPSTREAM_FILE="+file("BACKEND_UPSTREAM", "api:9000"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"server_name files.example www.files.example;",
			`add_header Strict-Transport-Security "max-age=600; includeSubDomains" always;`,
			`add_header X-Frame-Options "SAMEORIGIN" always;`,
			"rate=7r/s;",
			"set $backend http://api:9000;",
		} {
			if !strings.Contains(conf, want) {
				t.Errorf("no %q in the rendered config", want)
			}
		}
		_, err = render(t, sh, "DOMAIN_FILE="+filepath.Join(dir, "missing"))
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "DOMAIN_FILE names "+filepath.Join(dir, "missing")+", which is not a readable file") {
			t.Errorf("a missing file: %v", err)
		}
		// The checks hold for a value from a file too.
		_, err = render(t, sh, "DOMAIN_FILE="+file("BAD", "bad domain;"))
		if err == nil || !strings.Contains(err.Error(), "DOMAIN=") {
			t.Errorf("a bad value from a file: %v", err)
		}
	})
}
