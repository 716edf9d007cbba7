package certbot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

func environ(env map[string]string) []string {
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	return kv
}

func envWith(t *testing.T, file string, osEnv map[string]string) *stack.Env {
	t.Helper()
	root := t.TempDir()
	e, _ := stack.LookupEnvironment("prod")
	os.MkdirAll(filepath.Join(root, "docker"), 0o755)
	os.WriteFile(filepath.Join(root, e.EnvFile), []byte(file), 0o644)
	env, err := stack.LoadEnv(root, e, environ(osEnv))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestCertonlyArgv(t *testing.T) {
	base := "certbot certonly --webroot --webroot-path nginx/data/certbot/www --cert-name example.com -d example.com -d www.example.com --config-dir nginx/data/certbot/conf --work-dir nginx/data/certbot/work --logs-dir nginx/data/certbot/logs --non-interactive --agree-tos"
	cases := []struct {
		file string
		env  map[string]string
		want string
	}{
		{"DOMAIN=example.com\nCERTBOT_EMAIL=\n", nil, base + " --register-unsafely-without-email --keep-until-expiring"},
		{"DOMAIN=example.com\nCERTBOT_EMAIL=ops@example.com\n", nil, base + " --email ops@example.com --keep-until-expiring"},
		{"DOMAIN=example.com\nSTAGING=1\n", nil, base + " --register-unsafely-without-email --keep-until-expiring --staging"},
		{"DOMAIN=example.com\n", map[string]string{"FORCE": "1"}, base + " --register-unsafely-without-email --force-renewal"},
		{"DOMAIN=example.com\n", map[string]string{"ACME_SERVER": "https://127.0.0.1:14000/dir"}, base + " --register-unsafely-without-email --keep-until-expiring --server https://127.0.0.1:14000/dir"},
	}
	for _, c := range cases {
		r, err := RequestFromEnv(envWith(t, c.file, c.env))
		if err != nil {
			t.Fatal(err)
		}
		cmd := r.CertonlyCommand("/srv")
		if got := cmd.String(); got != c.want {
			t.Errorf("%q %v:\n got %s\nwant %s", c.file, c.env, got, c.want)
		}
		if cmd.Dir != "/srv" {
			t.Errorf("runs from %q", cmd.Dir)
		}
	}
}

func TestRenewArgv(t *testing.T) {
	want := "certbot renew --config-dir nginx/data/certbot/conf --work-dir nginx/data/certbot/work --logs-dir nginx/data/certbot/logs --non-interactive --no-random-sleep-on-renew"
	if got := RenewCommand("/srv").String(); got != want {
		t.Fatalf("got %s", got)
	}
}

func TestBadRequests(t *testing.T) {
	cases := map[string]struct {
		file string
		env  map[string]string
		want string
	}{
		"empty domain":   {"DOMAIN=\n", nil, "DOMAIN is empty: set DOMAIN in docker/.env.prod"},
		"url as domain":  {"DOMAIN=https://example.com\n", nil, `DOMAIN="https://example.com" from docker/.env.prod is not a domain name`},
		"www domain":     {"DOMAIN=www.example.com\n", nil, "is not a domain name"},
		"bad email":      {"DOMAIN=example.com\nCERTBOT_EMAIL=nope\n", nil, `CERTBOT_EMAIL="nope"`},
		"bad staging":    {"DOMAIN=example.com\nSTAGING=maybe\n", nil, `STAGING="maybe" from docker/.env.prod: use 1 or 0`},
		"http server":    {"DOMAIN=example.com\n", map[string]string{"ACME_SERVER": "http://x/dir"}, `ACME_SERVER="http://x/dir" from the process environment is not an https URL`},
		"staging+server": {"DOMAIN=example.com\nSTAGING=1\n", map[string]string{"ACME_SERVER": "https://x/dir"}, "choose one"},
	}
	for name, c := range cases {
		_, err := RequestFromEnv(envWith(t, c.file, c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}

func TestDecide(t *testing.T) {
	r := Request{Domain: "example.com"}
	root := t.TempDir()
	now := time.Now()
	if d := r.Decide(root, now); !d.Issue || !strings.Contains(d.Reason, "no certificate yet") {
		t.Fatalf("no cert: %+v", d)
	}
	write := func(names []string, notBefore time.Time) {
		certPEM, _, err := certs.SelfSigned(names, notBefore)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(root, r.LiveCert())
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, certPEM, 0o644)
	}
	write(r.Names(), now)
	if d := r.Decide(root, now); d.Issue || !strings.Contains(d.Reason, "nothing to do") {
		t.Fatalf("fresh cert: %+v", d)
	}
	if d := (Request{Domain: "example.com", Force: true}).Decide(root, now); !d.Issue {
		t.Fatal("FORCE must issue")
	}
	// 20 days left.
	write(r.Names(), now.Add(-certs.SelfSignedValidity+20*24*time.Hour))
	if d := r.Decide(root, now); !d.Issue || !strings.Contains(d.Reason, "renewing") {
		t.Fatalf("expiring cert: %+v", d)
	}
	write([]string{"example.com"}, now)
	if d := r.Decide(root, now); !d.Issue || !strings.Contains(d.Reason, "not example.com, www.example.com") {
		t.Fatalf("cert without www: %+v", d)
	}
}

func TestExplain(t *testing.T) {
	challenge := `Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported these problems:
  Domain: example.com
  Type:   unauthorized
  Detail: 127.0.0.1: Invalid response from http://example.com/.well-known/acme-challenge/abc: 404

Hint: The Certificate Authority failed to download the temporary challenge files created by Certbot.
`
	got := Explain(challenge, t.TempDir(), "")
	for _, want := range []string{"could not validate example.com", "failed URL http://example.com/.well-known/acme-challenge/abc", "404"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, LogsDir), 0o755)
	os.WriteFile(filepath.Join(root, LogsDir, "letsencrypt.log"), []byte(`... {"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "Error creating new order :: policy forbids \"x.invalid\"", "status": 400}`), 0o644)
	got = Explain("An unexpected error occurred:\nAttributeError: can't set attribute\n", root, "")
	if !strings.Contains(got, `policy forbids "x.invalid"`) || !strings.Contains(got, "rejectedIdentifier") {
		t.Errorf("from the log: %q", got)
	}
	got = Explain("requests.exceptions.ConnectionError: HTTPSConnectionPool(host='127.0.0.1', port=14001): Max retries exceeded with url: /dir (Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))", root, "https://127.0.0.1:14001/dir")
	if !strings.Contains(got, "the ACME server https://127.0.0.1:14001/dir is unreachable") {
		t.Errorf("unreachable: %q", got)
	}
}

func TestManualCommand(t *testing.T) {
	r := Request{Domain: "example.com", Server: "https://acme.example/dir"}
	got := strings.Join(r.ManualCommand("/srv", "AUTH", "CLEAN").Args, " ")
	want := "certonly --manual --preferred-challenges http --manual-auth-hook AUTH --manual-cleanup-hook CLEAN " +
		"--cert-name example.com -d example.com -d www.example.com " +
		"--config-dir nginx/data/certbot/conf --work-dir nginx/data/certbot/work --logs-dir nginx/data/certbot/logs " +
		"--non-interactive --agree-tos --register-unsafely-without-email --keep-until-expiring --server https://acme.example/dir"
	if got != want {
		t.Errorf("argv:\n got %s\nwant %s", got, want)
	}
}
