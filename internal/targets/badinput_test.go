package targets

import (
	"context"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDocker puts recording docker and certbot programs first on PATH.
// mode: "ok"; "nocompose" (the plugin is missing: every docker compose
// command fails as docker does); "noengine" (every command that needs the
// engine fails as docker does); or "fails" (docker answers, every other
// command exits 3). calls records the commands that ran, not
// the ones that failed without an effect. It is a fake for argv and for
// failures no real engine can be made to show on demand; the end-to-end
// suite runs the real ones.
func fakeDocker(t *testing.T, mode string) (bin, calls string) {
	t.Helper()
	bin = t.TempDir()
	calls = filepath.Join(bin, "calls")
	script := `#!/bin/sh
mode=` + mode + `
ran() { echo "$(basename "$0") $*" >> "` + calls + `"; }
if [ "$(basename "$0")" = certbot ]; then
  ran "$@"; [ "$*" = --version ] && echo "certbot 2.1.0"; exit 0
fi
# A global option before the command (docker --log-level error compose …).
[ "$1" = --log-level ] && shift 2
case "$*" in
  --version) ran "$@"; echo "Docker version 28.2.2, build e6534b4"; exit 0 ;;
  compose*) [ $mode = nocompose ] && { echo "docker: 'compose' is not a docker command." >&2; exit 1; } ;;
esac
[ "$*" = "compose version --short" ] && { ran "$@"; echo 2.40.3; exit 0; }
[ $mode = noengine ] && { echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1; }
[ $mode = fails ] && [ "$*" != "version --format {{.Server.Version}}" ] && { echo "the command fails" >&2; exit 3; }
ran "$@"
case "$*" in
  "version --format {{.Server.Version}}") echo 20.10.24 ;;
esac
`
	for _, name := range []string{"docker", "certbot"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return bin, calls
}

// changingCalls are the recorded calls that are not read-only probes.
func changingCalls(t *testing.T, calls string) []string {
	data, err := os.ReadFile(calls)
	if os.IsNotExist(err) {
		return nil
	}
	probes := map[string]bool{"docker --version": true, "docker compose version --short": true,
		"docker version --format {{.Server.Version}}": true, "certbot --version": true}
	var changing []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !probes[l] {
			changing = append(changing, l)
		}
	}
	return changing
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name    string
		mode    string
		prepare func(t *testing.T, root string)
		environ []string
		run     func(context.Context, *session.Session) error
		want    string
		hidden  string // a value the error must not show
	}{
		{name: "env file missing", prepare: func(t *testing.T, root string) { os.Remove(filepath.Join(root, "docker/.env.dev")) },
			run:  func(c context.Context, o *session.Session) error { return Up(c, o, "debug", Built, true) },
			want: `docker/.env.dev: env file of environment "debug" is missing: restore it from git (git checkout -- docker/.env.dev)`},
		{name: "env file does not parse", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.prod", "DOMAIN=example.com\nthis line is wrong\nX=1\n")
		}, run: func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			want: `docker/.env.prod:2: cannot parse "this": a variable name cannot contain a space: write KEY=value`},
		{name: "local env file does not parse", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.release.local", "OK=1\nBAD='unclosed\n")
		}, run: func(c context.Context, o *session.Session) error { return Build(c, o, "") },
			want: `docker/.env.release.local:2: cannot parse the line: the quoted value that starts here is not closed`},
		{name: "VERSION missing for build", prepare: func(t *testing.T, root string) { writeFile(t, root, "docker/.env.release", "DOMAIN=x.example\n") },
			run:  func(c context.Context, o *session.Session) error { return Build(c, o, "") },
			want: "VERSION is not set: set it in docker/.env.release (for example VERSION=1.2.3)"},
		{name: "VERSION not semver for build", environ: []string{"VERSION=1.2"},
			run:  func(c context.Context, o *session.Session) error { return Build(c, o, "") },
			want: `VERSION="1.2" (from the process environment) is not a semantic version: use MAJOR.MINOR.PATCH, for example 1.2.3`},
		{name: "VERSION not semver for release", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.release", "VERSION=latest\nDOMAIN=x.example\n")
		},
			run:  func(c context.Context, o *session.Session) error { return Up(c, o, "release", Pulled, false) },
			want: `VERSION="latest" (from docker/.env.release) is not a semantic version`},
		{name: "VERSION missing for release", prepare: func(t *testing.T, root string) { writeFile(t, root, "docker/.env.release", "DOMAIN=x.example\n") },
			run:  func(c context.Context, o *session.Session) error { return Up(c, o, "release", Pulled, false) },
			want: "docker-compose.release.yaml: error while interpolating services.backend.image: required variable VERSION is missing a value: VERSION is not set - set it in docker/.env.release"},
		// ps, logs and down leave the file to compose, and explain its failure.
		{name: "VERSION missing for stack:ps release", mode: "fails", prepare: func(t *testing.T, root string) { writeFile(t, root, "docker/.env.release", "DOMAIN=x.example\n") },
			run:  func(c context.Context, o *session.Session) error { return Ps(c, o, "release") },
			want: "docker-compose.release.yaml: error while interpolating services.backend.image: required variable VERSION is missing a value"},
		{name: "VERSION missing for stack:down release", mode: "fails", prepare: func(t *testing.T, root string) { writeFile(t, root, "docker/.env.release", "DOMAIN=x.example\n") },
			run:  func(c context.Context, o *session.Session) error { return Down(c, o, "release") },
			want: "docker-compose.release.yaml: error while interpolating services.backend.image: required variable VERSION is missing a value"},
		{name: "DOMAIN empty for certbot", environ: []string{"DOMAIN="},
			run:  Certbot,
			want: "DOMAIN is empty: set DOMAIN in docker/.env.prod to the name this server answers to"},
		{name: "unknown environment", run: func(c context.Context, o *session.Session) error { return Down(c, o, "staging") },
			want: `unknown environment "staging": use one of debug, test, prod, release`},
		{name: "unknown image", run: func(c context.Context, o *session.Session) error { return Push(c, o, "frontend,redis") },
			want: `unknown image "redis": use one or more of backend,backend-dev,frontend,frontend-dev,nginx, separated by commas`},
		{name: "Dockerfile missing", prepare: func(t *testing.T, root string) { os.Remove(filepath.Join(root, "backend/Dockerfile")) },
			run:  func(c context.Context, o *session.Session) error { return Build(c, o, "") },
			want: `backend/Dockerfile: Dockerfile of image backend is missing`},
		{name: "compose plugin missing", mode: "nocompose", run: func(c context.Context, o *session.Session) error { return Up(c, o, "debug", Built, true) },
			want: "the docker compose plugin is missing: install docker-compose-plugin"},
		{name: "engine unreachable", mode: "noengine", run: func(c context.Context, o *session.Session) error { return Build(c, o, "") },
			want: "the Docker engine is unreachable at "},
		{name: "engine unreachable for certbot", mode: "noengine", run: Certbot, want: "the Docker engine is unreachable at "},
		{name: "exec command with an open quote", run: func(c context.Context, o *session.Session) error {
			return Exec(c, o, "debug", "backend", `python manage.py shell -c "print(1)`)
		}, want: `the command has an unterminated " quote: close it, or escape it with a backslash`, hidden: "print(1)"},
		// Issue 8, finding 3: validation errors do not echo .local values.
		{name: "VERSION from .local is not echoed", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.release.local", "VERSION=\"sekret123\"\n")
		}, run: func(c context.Context, o *session.Session) error { return Build(c, o, "") },
			want: "(from docker/.env.release.local) is not a semantic version", hidden: "sekret123"},
		{name: "CERTBOT_EMAIL from .local is not echoed", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.prod.local", "CERTBOT_EMAIL=\"Sekret Person <sekret@example.com>\"\n")
		}, run: Certbot, want: "CERTBOT_EMAIL (from docker/.env.prod.local) has a display name or angle brackets", hidden: "sekret"},
		{name: "STAGING from .local is not echoed", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.prod.local", "STAGING=sekret123\n")
		}, run: Certbot, want: "from docker/.env.prod.local: use 1 or 0", hidden: "sekret123"},
		{name: "ACME_SERVER from .local is not echoed", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.prod.local", "ACME_SERVER=\"http://user:pw-sekret@acme.example/dir\"\n")
		}, run: Certbot, want: "from docker/.env.prod.local is not an https URL", hidden: "pw-sekret"},
		{name: "port from .local is not echoed (compose-go would say Invalid hostPort)", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.prod.local", "HTTP_PORT=sekret123\n")
		}, run: func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			want: "HTTP_PORT (from docker/.env.prod.local) is not a port: use a number from 1 to 65535", hidden: "sekret123"},
		{name: "secret with a quote in a relayed message", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.prod.local", "ACME_SERVER='ftp://x/\"sek\\ret\"'\n")
		}, run: Certbot, want: "is not an https URL", hidden: `sek\\ret`},
		{name: "compose-go's message relays a .local value", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.prod.local", "PUBLISH_ADDRESS=sekret-addr\n")
		}, run: func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			want: "docker-compose.prod.yaml: Invalid ip address: ****", hidden: "sekret"},
		// Finding 5: what nginx's renderer takes is checked by the tool too.
		{name: "HSTS_HEADER with CR LF", environ: []string{"HSTS_HEADER=max-age=1\r\nSet-Cookie: pwned=1"},
			run:  func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			want: `HSTS_HEADER="max-age=1\r\nSet-Cookie: pwned=1" (from the process environment) contains a control character (U+000D)`},
		{name: "DOMAIN ..", environ: []string{"DOMAIN=.."}, run: func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			want: `DOMAIN=".." (from the process environment) has an empty label (label 1): use a DNS name such as example.com`},
		{name: "DOMAIN -example.com", environ: []string{"DOMAIN=-example.com"}, run: func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			want: `DOMAIN="-example.com" (from the process environment) has a label starting or ending with '-' (label 1)`},
		{name: "PUBLIC_HTTPS_PORT out of range", environ: []string{"PUBLIC_HTTPS_PORT=99999999"}, run: func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			want: `PUBLIC_HTTPS_PORT="99999999" (from the process environment) is not a port: use a number from 1 to 65535`},
		// Finding 6: values the tool did not validate.
		{name: "DOMAIN with a space", environ: []string{"DOMAIN=ex ample.com"}, run: func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			want: `DOMAIN="ex ample.com" (from the process environment) contains a space (label 1)`},
		{name: "DOMAIN with a command substitution", environ: []string{"DOMAIN=$(id).example.com"}, run: func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			want: `DOMAIN="$(id).example.com" (from the process environment) contains '$' (label 1)`},
		{name: "DOMAIN internationalized", environ: []string{"DOMAIN=exämple.com"}, run: func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			want: `is an internationalized name: write its ASCII (punycode) form`},
		{name: "DOMAIN from .local", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.prod.local", "DOMAIN=\"sekret host.example\"\n")
		},
			run:  func(c context.Context, o *session.Session) error { return Up(c, o, "prod", Existing, false) },
			want: `DOMAIN (from docker/.env.prod.local) contains a space (label 1)`, hidden: "sekret"},
		{name: "exec service empty", run: func(c context.Context, o *session.Session) error { return Exec(c, o, "debug", "", "ls") },
			want: `stack:exec: service "" is not a service of the stack: use one of backend, frontend, nginx, redis`},
		{name: "exec service unknown", run: func(c context.Context, o *session.Session) error { return Exec(c, o, "debug", "nosuch", "ls") },
			want: `stack:exec: service "nosuch" is not a service of the stack: use one of backend, frontend, nginx, redis`},
		{name: "run service unknown", run: func(c context.Context, o *session.Session) error { return Run(c, o, "prod", "worker", "ls") },
			want: `stack:run: service "worker" is not a service of the stack`},
		{name: "restart service unknown", run: func(c context.Context, o *session.Session) error { return Restart(c, o, "prod", "db") },
			want: `stack:restart: service "db" is not a service of the stack`},
		{name: "stop service is a flag", run: func(c context.Context, o *session.Session) error { return Stop(c, o, "prod", "--timeout=0") },
			want: `stack:stop: service "--timeout=0"`},
		{name: "run command with an open quote", run: func(c context.Context, o *session.Session) error { return Run(c, o, "prod", "backend", "echo 'x") },
			want: "unterminated ' quote"},
		{name: "exec service is a flag", run: func(c context.Context, o *session.Session) error { return Exec(c, o, "debug", "--privileged", "ls") },
			want: `stack:exec: service "--privileged" is not a service of the stack`},
		{name: "REGISTRY is a flag", environ: []string{"REGISTRY=--platform=linux"}, run: func(c context.Context, o *session.Session) error { return Pull(c, o, "nginx") },
			want: `REGISTRY="--platform=linux" (from the process environment) starts with '-'`},
		{name: "REGISTRY with a newline", environ: []string{"REGISTRY=ghcr.io/a\nb"}, run: func(c context.Context, o *session.Session) error { return Pull(c, o, "nginx") },
			want: `REGISTRY="ghcr.io/a\nb" (from the process environment) contains a control character (U+000A)`},
		{name: "VERSION with build metadata", environ: []string{"VERSION=1.2.3+build.5"}, run: func(c context.Context, o *session.Session) error { return Build(c, o, "") },
			want: `VERSION="1.2.3+build.5" (from the process environment) has build metadata (+build.5)`},
		{name: "CERTBOT_EMAIL is a flag", environ: []string{"CERTBOT_EMAIL=--agree@example.com"}, run: Certbot,
			want: `CERTBOT_EMAIL="--agree@example.com" (from the process environment) starts with '-'`},
		{name: "CERTBOT_EMAIL with a display name", environ: []string{"CERTBOT_EMAIL=Foo <a@x.example>"}, run: Certbot,
			want: `CERTBOT_EMAIL="Foo <a@x.example>" (from the process environment) has a display name or angle brackets`},
		{name: "-only selects nothing", run: func(c context.Context, o *session.Session) error { return Push(c, o, ",") },
			want: `-only="," names no image: use one or more of backend,backend-dev,frontend,frontend-dev,nginx`},
		{name: "CACHE_FROM not registry", environ: []string{"CACHE_FROM=gha"}, run: func(c context.Context, o *session.Session) error { return Build(c, o, "") },
			want: `CACHE_FROM="gha" (from the process environment): use CACHE_FROM=registry to take the build cache from the registry's latest images, or leave it unset`},
		{name: "bad STACK", environ: []string{"STACK=debug"}, run: Renew, want: `STACK="debug": certificates are for the prod or release stack`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mode := c.mode
			if mode == "" {
				mode = "ok"
			}
			_, calls := fakeDocker(t, mode)
			root := project(t)
			if c.prepare != nil {
				c.prepare(t, root)
			}
			before := tree(t, root)
			o, out, log := options(root, false, c.environ...)
			err := o.Do(func(o *session.Session) error { return c.run(context.Background(), o) })
			if err == nil {
				t.Fatalf("no error; output:\n%s%s", out, log)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n  %v\nwant it to contain:\n  %s", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if c.hidden != "" && strings.Contains(err.Error()+log.String(), c.hidden) {
				t.Fatalf("printed %q:\n%v\n%s", c.hidden, err, log)
			}
			if ran := changingCalls(t, calls); len(ran) > 0 {
				t.Fatalf("ran %v despite the bad input", ran)
			}
			if after := tree(t, root); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Fatalf("wrote files despite the bad input: %v", after)
			}
		})
	}
}

func TestDockerNotInstalled(t *testing.T) {
	root := project(t)
	o := session.New(session.Config{Root: root, Environ: []string{"PATH=" + t.TempDir()}})
	t.Setenv("PATH", t.TempDir())
	err := Build(context.Background(), o, "")
	if err == nil || !strings.Contains(err.Error(), "docker is not installed: install Docker Engine") {
		t.Fatalf("err = %v", err)
	}
}

func TestCertbotNotInstalled(t *testing.T) {
	bin, _ := fakeDocker(t, "ok")
	os.Remove(filepath.Join(bin, "certbot"))
	t.Setenv("PATH", bin)
	o, _, _ := options(project(t), false)
	err := Certbot(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "certbot is not installed: install it (apt-get install certbot)") {
		t.Fatalf("err = %v", err)
	}
}

// With the engine up but no nginx in the stack, certbot is not called.
func TestCertbotNeedsRunningNginx(t *testing.T) {
	_, calls := fakeDocker(t, "ok")
	o, _, _ := options(project(t), false)
	err := Certbot(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "nginx is not running in the prod stack (project dtx-prod): start it first with './dtx stack:up prod'") {
		t.Fatalf("err = %v", err)
	}
	for _, c := range changingCalls(t, calls) {
		if strings.HasPrefix(c, "certbot ") && c != "certbot --version" {
			t.Fatalf("ran %s", c)
		}
	}
}
