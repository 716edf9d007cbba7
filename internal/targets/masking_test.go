package targets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Issue 8, findings 3 and 4: every printed line of a dry run masks the
// .local and secret-named values whatever characters they hold, and a short
// value masks nothing but itself.
func TestDryRunMasking(t *testing.T) {
	cases := []struct {
		name   string
		local  map[string]string // env file -> .local content
		run    func(context.Context, *session.Session) error
		hidden []string // never printed
		want   []string // printed lines (or parts) that prove the plan is exact
	}{
		{name: "quote and space in a password used in stack:exec",
			local: map[string]string{"docker/.env.dev.local": "DB_PASSWORD=\"pa'ss w0rd\"\n"},
			run: func(c context.Context, o *session.Session) error {
				return Exec(c, o, "debug", "backend", `psql "postgres://app:pa'ss w0rd@db/app"`)
			},
			hidden: []string{"pa'ss", `pa'\''ss`, "ss w0rd"},
			want:   []string{` exec -T backend psql postgres://app:****@db/app`}},
		{name: "dollars in a password",
			local: map[string]string{"docker/.env.dev.local": "DB_PASSWORD='pa$$w0rd$HOME'\n"},
			run: func(c context.Context, o *session.Session) error {
				return Exec(c, o, "debug", "backend", `psql 'postgres://app:pa$$w0rd$HOME@db/app' -c 'select 1'`)
			},
			hidden: []string{"w0rd"},
			want:   []string{` exec -T backend psql postgres://app:****@db/app -c 'select 1'`}},
		{name: "quote in CERTBOT_EMAIL",
			local:  map[string]string{"docker/.env.prod.local": "CERTBOT_EMAIL=o'brien@example.com\n"},
			run:    Certbot,
			hidden: []string{"brien"},
			want:   []string{" --email **** "}},
		{name: "DOMAIN in .local: progress lines masked too",
			local:  map[string]string{"docker/.env.prod.local": "DOMAIN=private-site.example\n"},
			run:    Certbot,
			hidden: []string{"private-site"},
			want:   []string{"no certificate yet for ****", "-d **** -d www.****"}},
		{name: "DOMAIN in .local: the self-signed line",
			local:  map[string]string{"docker/.env.prod.local": "DOMAIN=private-site.example\n"},
			run:    func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			hidden: []string{"private-site"},
			want:   []string{"generate a self-signed certificate for ****, www.****, localhost"}},
		{name: "build argument in the printed definition",
			local:  map[string]string{"docker/.env.release.local": "NGINX_BASE_IMAGE=reg.example/private-base:1\n"},
			run:    func(c context.Context, o *session.Session) error { return Build(c, o, "nginx") },
			hidden: []string{"private"},
			want:   []string{`"NGINX_BASE_IMAGE": "****"`}},
		{name: "DEBUG=1 in .local does not touch versions and numbers",
			local: map[string]string{"docker/.env.release.local": "DEBUG=1\n"},
			run:   func(c context.Context, o *session.Session) error { return Up(c, o, "release", Pulled, false) },
			want:  []string{"/frontend:0.1.0\n", "--wait-timeout 120 "}},
		{name: "one-letter secret does not mask every a",
			local: map[string]string{"docker/.env.release.local": "DJANGO_SECRET=a\n"},
			run:   func(c context.Context, o *session.Session) error { return Up(c, o, "release", Pulled, false) },
			want:  []string{"ghcr.io/kettleofketchup/dtx_website/frontend:0.1.0", "--project-name dtx-release"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := project(t)
			for f, content := range c.local {
				writeFile(t, root, f, content)
			}
			o, _, log := options(root, true)
			o.Environ = []string{"PATH=/nonexistent"}
			if err := o.Do(func(o *session.Session) error { return c.run(context.Background(), o) }); err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			for _, h := range c.hidden {
				if strings.Contains(log.String(), h) {
					t.Errorf("printed %q:\n%s", h, log)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(log.String(), w) {
					t.Errorf("no %q in:\n%s", w, log)
				}
			}
		})
	}
}

// Finding 3: certbot's failure reason, relayed in the final error line, is
// masked like the rest.
func TestCertbotFailureReasonIsMasked(t *testing.T) {
	bin, _ := fakeDocker(t, "ok")
	// nginx runs, and certbot fails naming the domain, as it does.
	docker := `#!/bin/sh
case "$*" in
  *"ps --status running --services") echo nginx ;;
  "compose version --short") echo 2.40.3 ;;
  "version --format {{.Client.Version}} {{.Server.Version}}") echo 28.2.2 20.10.24 ;;
esac
`
	certbot := `#!/bin/sh
[ "$1" = --version ] && { echo "certbot 2.1.0"; exit 0; }
echo "Some challenges have failed."
echo "An unexpected error occurred for private-site.example: it said no"
exit 1
`
	for name, script := range map[string]string{"docker": docker, "certbot": certbot} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := project(t)
	writeFile(t, root, "docker/.env.prod.local", "DOMAIN=private-site.example\n")
	o, out, log := options(root, false)
	err := o.Do(func(o *session.Session) error { return Certbot(context.Background(), o) })
	if err == nil || !strings.Contains(err.Error(), "certbot failed (exit 1): An unexpected error occurred for ****: it said no") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error()+log.String(), "private-site") {
		t.Fatalf("printed the domain:\n%v\n%s", err, log)
	}
	_ = out // certbot's own output goes through unchanged: it is the child's
}
