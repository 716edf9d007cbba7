// Package nginx holds the image's files; this test runs its entrypoint's
// render step with a POSIX sh, outside the image, through the DTX_* paths
// the script exposes for it.
package nginx

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// TestReloadServesTheNewCertificateAtOnce runs a real nginx (the host's)
// and `dtx-nginx reload` after each of several certificate changes: as soon
// as reload returns, every new connection must get the new certificate.
// (`nginx -s reload` alone returns before the old workers stop accepting.)
func TestReloadServesTheNewCertificateAtOnce(t *testing.T) {
	testenv.NeedCommand(t, "nginx", "apt-get install nginx-light; .ci/engine.sh up installs it")
	testenv.NeedCommand(t, "envsubst", "apt-get install gettext-base; .ci/engine.sh up installs it")
	dir := t.TempDir()
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
		cmd := exec.Command("sh", append([]string{"entrypoint.sh"}, args...)...)
		cmd.Env = env
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
		cert, err := certs.Read(filepath.Join(live, "reload.test/fullchain.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}

	want := newCert()
	entrypoint("render")
	nginx := exec.Command("nginx", "-c", conf, "-g", "daemon off;")
	nginx.Stdout, nginx.Stderr = os.Stderr, os.Stderr
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
				acme := conf[strings.Index(conf, "listen 80;"):strings.Index(conf, "listen 443")]
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
