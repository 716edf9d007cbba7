package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/certs"
)

// TestCertbot runs prod:certbot and prod:renew with Debian's certbot against
// Pebble, through the nginx the project ships, in the prod stack.
func TestCertbot(t *testing.T) {
	s := newSite(t)
	pebbleDir(t)
	httpPort, httpsPort := freePort(t), freePort(t)
	ports := []string{"HTTP_PORT=" + httpPort, "HTTPS_PORT=" + httpsPort}
	a := startACME(t, httpPort)
	certbotEnv := append(append([]string{}, ports...), a.env()...)
	live := filepath.Join(s.root, "nginx/data/certbot/conf/live/dtx.test/fullchain.pem")

	// A fresh server: no certificate yet, nginx still starts, on the
	// temporary self-signed certificate the tool makes.
	s.mustMage(ports, "dev:prod")
	checkHardened(t, s.prefix+"-prod")
	selfSigned := x509Pool(t, filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"))
	served(t, httpsPort, "dtx.test", selfSigned)

	var first string
	t.Run("first issue", func(t *testing.T) {
		out := s.with(t).mustMage(certbotEnv, "prod:certbot")
		if !strings.Contains(out, "no certificate yet for dtx.test") || !strings.Contains(out, "dtx-nginx reload") {
			t.Errorf("output:\n%s", out)
		}
		cert, err := certs.Read(live)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(cert.DNSNames, "dtx.test") || !slices.Contains(cert.DNSNames, "www.dtx.test") {
			t.Errorf("SAN %v, want dtx.test and www.dtx.test", cert.DNSNames)
		}
		roots := a.root(t)
		for _, name := range []string{"dtx.test", "www.dtx.test"} {
			if got := served(t, httpsPort, name, roots); got.SerialNumber.Cmp(cert.SerialNumber) != 0 {
				t.Errorf("nginx serves serial %s to %s, want the new %s", got.SerialNumber, name, cert.SerialNumber)
			}
		}
		first = cert.SerialNumber.String()
	})
	if first == "" {
		t.FailNow()
	}

	t.Run("second run keeps the certificate", func(t *testing.T) {
		out := s.with(t).mustMage(certbotEnv, "prod:certbot")
		if !strings.Contains(out, "nothing to do") || strings.Contains(out, "+ certbot") {
			t.Errorf("a valid certificate must be kept without calling certbot:\n%s", out)
		}
		if cert, _ := certs.Read(live); cert.SerialNumber.String() != first {
			t.Errorf("serial changed to %s", cert.SerialNumber)
		}
	})

	var forced string
	t.Run("FORCE=1 re-issues and nginx serves it", func(t *testing.T) {
		out := s.with(t).mustMage(append(certbotEnv, "FORCE=1"), "prod:certbot")
		if !strings.Contains(out, "--force-renewal") {
			t.Errorf("output:\n%s", out)
		}
		cert, _ := certs.Read(live)
		forced = cert.SerialNumber.String()
		if forced == first {
			t.Fatalf("FORCE=1 kept serial %s", first)
		}
		if got := served(t, httpsPort, "dtx.test", a.root(t)); got.SerialNumber.String() != forced {
			t.Errorf("nginx serves %s, want the forced %s", got.SerialNumber, forced)
		}
	})

	t.Run("prod:renew", func(t *testing.T) {
		out := s.with(t).mustMage(certbotEnv, "prod:renew")
		if !strings.Contains(out, "--no-random-sleep-on-renew") || !strings.Contains(out, "nginx not reloaded") || strings.Contains(out, "dtx-nginx reload") {
			t.Errorf("nothing due: output:\n%s", out)
		}
		// Make the certificate due: renew when fewer than 100 days are left
		// (Pebble's certificates last 90).
		conf := filepath.Join(s.root, "nginx/data/certbot/conf/renewal/dtx.test.conf")
		data, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(conf, append([]byte("renew_before_expiry = 100 days\n"), data...), 0o644)
		out = s.with(t).mustMage(certbotEnv, "prod:renew")
		cert, _ := certs.Read(live)
		if cert.SerialNumber.String() == forced || !strings.Contains(out, "dtx-nginx reload") {
			t.Errorf("a due certificate was not renewed and reloaded:\n%s", out)
		}
		if got := served(t, httpsPort, "dtx.test", a.root(t)); got.SerialNumber.Cmp(cert.SerialNumber) != 0 {
			t.Errorf("nginx serves %s after renew, want %s", got.SerialNumber, cert.SerialNumber)
		}
	})

	t.Run("TLS 1.2 and 1.3 only, HSTS, redirect except ACME", func(t *testing.T) {
		checkTLS(t, httpsPort, "dtx.test", a.root(t))
		c := client(t, httpPort, httpsPort, filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"))
		c.Transport.(*http.Transport).TLSClientConfig.RootCAs = a.root(t)
		if _, h, _ := get(t, c, "https://dtx.test/"); !strings.Contains(h.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("no HSTS in prod: %v", h)
		}
		if code, h, _ := get(t, c, "http://www.dtx.test/x"); code != 301 || h.Get("Location") != "https://www.dtx.test:"+httpsPort+"/x" {
			t.Errorf("http: %d %q", code, h.Get("Location"))
		}
		if code, _, _ := get(t, c, "http://dtx.test/.well-known/acme-challenge/missing"); code != 404 {
			t.Errorf("ACME path must be served from the webroot (404 for a missing token), got %d", code)
		}
	})

	t.Run("challenge not served", func(t *testing.T) {
		a.resolve(t, "unreachable.test", "127.0.0.2") // nothing listens there
		out, err := s.with(t).mage(append(certbotEnv, "DOMAIN=unreachable.test"), "prod:certbot")
		if err == nil {
			t.Fatalf("succeeded:\n%s", out)
		}
		t.Logf("message: %s", lastLine(out))
		for _, want := range []string{"the ACME server could not validate", "unreachable.test", "failed URL http://", "/.well-known/acme-challenge/"} {
			if !strings.Contains(lastLine(out), want) {
				t.Errorf("message lacks %q:\n%s", want, lastLine(out))
			}
		}
	})

	t.Run("challenge answered 404", func(t *testing.T) {
		// nginx keeps serving the folder it mounted; moving it aside makes
		// certbot write its token into a fresh folder nginx never sees, as
		// when the webroot and the served folder disagree: Pebble reaches
		// nginx and gets a 404.
		www := filepath.Join(s.root, "nginx/data/certbot/www")
		if err := os.Rename(www, www+".mounted"); err != nil {
			t.Fatal(err)
		}
		defer func() {
			os.RemoveAll(www)
			if err := os.Rename(www+".mounted", www); err != nil {
				t.Error(err)
			}
		}()
		if err := os.MkdirAll(www, 0o755); err != nil {
			t.Fatal(err)
		}
		before, _ := certs.Read(live)
		out, err := s.with(t).mage(append(certbotEnv, "FORCE=1"), "prod:certbot")
		if err == nil {
			t.Fatalf("succeeded:\n%s", out)
		}
		msg := lastLine(out)
		t.Logf("message: %s", msg)
		for _, want := range []string{"could not validate", "dtx.test", "failed URL http://", "/.well-known/acme-challenge/", "404"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message lacks %q:\n%s", want, out)
			}
		}
		if after, _ := certs.Read(live); after.SerialNumber.Cmp(before.SerialNumber) != 0 {
			t.Errorf("a failed issue replaced the live certificate: serial %s, was %s", after.SerialNumber, before.SerialNumber)
		}
	})

	t.Run("ACME server refuses: the reason from certbot's log", func(t *testing.T) {
		out, err := s.with(t).mage(append(certbotEnv, "DOMAIN="+blockedDomain), "prod:certbot")
		if err == nil {
			t.Fatalf("succeeded:\n%s", out)
		}
		t.Logf("message: %s", lastLine(out))
		if msg := lastLine(out); !strings.Contains(msg, "the ACME server refused the request") || !strings.Contains(msg, blockedDomain) {
			t.Errorf("message: %s\n%s", msg, out)
		}
	})

	t.Run("ACME server unreachable", func(t *testing.T) {
		out, err := s.with(t).mage(append(certbotEnv, "FORCE=1", "ACME_SERVER=https://127.0.0.1:"+freePort(t)+"/dir"), "prod:certbot")
		t.Logf("message: %s", lastLine(out))
		if err == nil || !strings.Contains(lastLine(out), "the ACME server https://127.0.0.1:") {
			t.Errorf("err %v, message: %s", err, lastLine(out))
		}
	})

	t.Run("nginx not running", func(t *testing.T) {
		s.with(t).mustMage(ports, "stack:down", "prod")
		out, err := s.with(t).mage(append(certbotEnv, "FORCE=1"), "prod:certbot")
		t.Logf("message: %s", lastLine(out))
		if err == nil || !strings.Contains(lastLine(out), "nginx is not running in the prod stack") || strings.Contains(out, "+ certbot") {
			t.Errorf("err %v:\n%s", err, out)
		}
	})
}

// checkTLS: TLS 1.0 and 1.1 refused by nginx, 1.2 and 1.3 accepted, with a
// real client that verifies the certificate.
func checkTLS(t *testing.T, httpsPort, name string, roots *x509.CertPool) {
	t.Helper()
	for _, v := range []struct {
		version uint16
		name    string
		ok      bool
	}{{tls.VersionTLS10, "1.0", false}, {tls.VersionTLS11, "1.1", false}, {tls.VersionTLS12, "1.2", true}, {tls.VersionTLS13, "1.3", true}} {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+httpsPort, &tls.Config{ServerName: name, RootCAs: roots, MinVersion: v.version, MaxVersion: v.version})
		switch {
		case err == nil && !v.ok:
			t.Errorf("TLS %s accepted", v.name)
		case err != nil && v.ok:
			t.Errorf("TLS %s refused: %v", v.name, err)
		case err != nil && !strings.Contains(err.Error(), "protocol version"):
			t.Errorf("TLS %s failed, but not by nginx refusing the version: %v", v.name, err)
		}
		if conn != nil {
			conn.Close()
		}
	}
}

// x509Pool trusts the certificates of a PEM file.
func x509Pool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(path)
	pool := x509.NewCertPool()
	if err != nil || !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s: %v", path, err)
	}
	return pool
}

func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}
