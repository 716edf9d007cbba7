// Package nginx holds the image's files; this test runs its entrypoint's
// render step with a POSIX sh, outside the image, through the DTX_* paths
// the script exposes for it.
package nginx

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// render runs `entrypoint.sh render` with env and returns the site config
// it wrote, or the one-line error it gave.
func render(t *testing.T, env ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("envsubst"); err != nil {
		t.Skip("envsubst (gettext-base) is not installed")
	}
	dir := t.TempDir()
	ssl := filepath.Join(dir, "ssl")
	os.Mkdir(ssl, 0o755)
	for _, f := range []string{"fullchain.pem", "privkey.pem"} {
		os.WriteFile(filepath.Join(ssl, f), []byte("placeholder"), 0o600)
	}
	conf := filepath.Join(dir, "default.conf")
	cmd := exec.Command("sh", "entrypoint.sh", "render")
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
	for _, c := range []struct{ port, want string }{
		{"", "return 301 https://$host$request_uri;"},
		{"443", "return 301 https://$host$request_uri;"},
		{"8443", "return 301 https://$host:8443$request_uri;"},
	} {
		conf, err := render(t, "DOMAIN=example.com", "PUBLIC_HTTPS_PORT="+c.port)
		if err != nil {
			t.Fatalf("PUBLIC_HTTPS_PORT=%q: %v", c.port, err)
		}
		if !strings.Contains(conf, c.want) {
			t.Errorf("PUBLIC_HTTPS_PORT=%q: no %q in:\n%s", c.port, c.want, conf)
		}
	}
}

func TestRenderFillsOnlyItsOwnVariables(t *testing.T) {
	conf, err := render(t, "DOMAIN=example.com", "HSTS_HEADER=max-age=1", "HOME=/should/not/appear")
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

func TestRenderRejectsInjection(t *testing.T) {
	for _, env := range []string{
		"PUBLIC_HTTPS_PORT=443; return 200",
		"DOMAIN=example.com;evil",
		`HSTS_HEADER=max-age=1" always; add_header X "y`,
	} {
		_, err := render(t, "DOMAIN=example.com", env)
		if err == nil {
			t.Errorf("%s: rendered", env)
			continue
		}
		name, _, _ := strings.Cut(env, "=")
		if msg := err.Error(); strings.Count(msg, "\n") > 0 || !strings.Contains(msg, name) {
			t.Errorf("%s: want one line naming %s, got %q", env, name, msg)
		}
	}
}
