package targets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDocker puts recording docker and certbot programs first on PATH.
// mode: "ok", "nocompose" (the plugin is missing) or "noengine". It is a
// fake for argv and for failures no real engine can be made to show on
// demand; the end-to-end suite runs the real ones.
func fakeDocker(t *testing.T, mode string) (bin, calls string) {
	t.Helper()
	bin = t.TempDir()
	calls = filepath.Join(bin, "calls")
	script := `#!/bin/sh
echo "$(basename "$0") $*" >> "` + calls + `"
case "$*" in
  "compose version --short") [ "` + mode + `" = nocompose ] && { echo "docker: 'compose' is not a docker command." >&2; exit 1; }; echo 2.40.3 ;;
  "version --format {{.Client.Version}} {{.Server.Version}}") [ "` + mode + `" = noengine ] && { echo "28.2.2 "; echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1; }; echo 28.2.2 20.10.24 ;;
  --version) echo "certbot 2.1.0" ;;
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
	var changing []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !strings.HasPrefix(l, "docker version ") && l != "docker compose version --short" {
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
		run     func(context.Context, Options) error
		want    string
	}{
		{name: "env file missing", prepare: func(t *testing.T, root string) { os.Remove(filepath.Join(root, "docker/.env.dev")) },
			run:  func(c context.Context, o Options) error { return Up(c, o, "debug", Built, true) },
			want: `docker/.env.dev: env file of environment "debug" is missing: restore it from git (git checkout -- docker/.env.dev)`},
		{name: "env file does not parse", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.prod", "DOMAIN=example.com\nthis line is wrong\nX=1\n")
		}, run: func(c context.Context, o Options) error { return Up(c, o, "prod", Existing, false) },
			want: `docker/.env.prod:2: cannot parse "this": a variable name cannot contain a space: write KEY=value`},
		{name: "local env file does not parse", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.release.local", "OK=1\nBAD='unclosed\n")
		}, run: func(c context.Context, o Options) error { return Build(c, o, "") },
			want: `docker/.env.release.local:2: cannot parse the line: the quoted value that starts here is not closed`},
		{name: "VERSION missing for build", prepare: func(t *testing.T, root string) { writeFile(t, root, "docker/.env.release", "DOMAIN=x.example\n") },
			run:  func(c context.Context, o Options) error { return Build(c, o, "") },
			want: "VERSION is not set: set it in docker/.env.release (for example VERSION=1.2.3)"},
		{name: "VERSION not semver for build", environ: []string{"VERSION=1.2"},
			run:  func(c context.Context, o Options) error { return Build(c, o, "") },
			want: `VERSION="1.2" from the process environment is not a semantic version: use MAJOR.MINOR.PATCH, for example 1.2.3`},
		{name: "VERSION not semver for release", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.release", "VERSION=latest\nDOMAIN=x.example\n")
		},
			run:  func(c context.Context, o Options) error { return Up(c, o, "release", Pulled, false) },
			want: `VERSION="latest" from docker/.env.release is not a semantic version`},
		{name: "VERSION missing for release", prepare: func(t *testing.T, root string) { writeFile(t, root, "docker/.env.release", "DOMAIN=x.example\n") },
			run:  func(c context.Context, o Options) error { return Up(c, o, "release", Pulled, false) },
			want: "docker-compose.release.yaml: error while interpolating services.backend.image: required variable VERSION is missing a value: VERSION is not set - set it in docker/.env.release"},
		{name: "DOMAIN empty for certbot", environ: []string{"DOMAIN="},
			run:  Certbot,
			want: "DOMAIN is empty: set DOMAIN in docker/.env.prod to the name this server answers to"},
		{name: "unknown environment", run: func(c context.Context, o Options) error { return Down(c, o, "staging") },
			want: `unknown environment "staging": use one of debug, test, prod, release`},
		{name: "unknown image", run: func(c context.Context, o Options) error { return Push(c, o, "frontend,redis") },
			want: `unknown image "redis": use one or more of frontend,frontend-dev,backend,backend-dev,nginx, separated by commas`},
		{name: "Dockerfile missing", prepare: func(t *testing.T, root string) { os.Remove(filepath.Join(root, "backend/Dockerfile")) },
			run:  func(c context.Context, o Options) error { return Build(c, o, "") },
			want: `backend/Dockerfile: Dockerfile of image backend is missing`},
		{name: "compose plugin missing", mode: "nocompose", run: func(c context.Context, o Options) error { return Up(c, o, "debug", Built, true) },
			want: "the docker compose plugin is missing: install docker-compose-plugin"},
		{name: "engine unreachable", mode: "noengine", run: func(c context.Context, o Options) error { return Build(c, o, "") },
			want: "the Docker engine is unreachable at "},
		{name: "engine unreachable for certbot", mode: "noengine", run: Certbot, want: "the Docker engine is unreachable at "},
		{name: "exec command with an open quote", run: func(c context.Context, o Options) error {
			return Exec(c, o, "debug", "backend", `python manage.py shell -c "print(1)`)
		}, want: `has an unterminated " quote: close it, or escape it with a backslash`},
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
			err := c.run(context.Background(), o)
			if err == nil {
				t.Fatalf("no error; output:\n%s%s", out, log)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n  %v\nwant it to contain:\n  %s", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
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
	o, _, _ := options(root, false)
	o.Environ = []string{"PATH=" + t.TempDir()}
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
	if err == nil || !strings.Contains(err.Error(), "nginx is not running in the prod stack (project dtx-prod): start it first with 'go tool mage stack:up prod'") {
		t.Fatalf("err = %v", err)
	}
	for _, c := range changingCalls(t, calls) {
		if strings.HasPrefix(c, "certbot ") && c != "certbot --version" {
			t.Fatalf("ran %s", c)
		}
	}
}

func TestFromProcessRejectsBadDryRun(t *testing.T) {
	t.Setenv("DRY_RUN", "yes please")
	if _, err := FromProcess(); err == nil || !strings.Contains(err.Error(), `DRY_RUN="yes please": use DRY_RUN=1`) {
		t.Fatalf("err = %v", err)
	}
}
