package targets

import (
	"context"
	"fmt"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/magefile/mage/mg"
)

func TestCheckPassesOnAHealthyProject(t *testing.T) {
	fakeDocker(t, "ok")
	o, out, _ := options(project(t), false)
	if err := Check(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"ok    docker 28.2.2", "ok    docker compose 2.40.3", "ok    engine 20.10.24 answers at unix:///var/run/docker.sock",
		"ok    debug: env files docker/.env.dev",
		"ok    debug: docker-compose.debug.yaml loads with them",
		"ok    release: docker-compose.release.yaml loads with them",
		"ok    VERSION 0.1.0",
		"ok    image frontend-dev: frontend/Dockerfile stage runtime-dev (service frontend of docker-compose.debug.yaml)",
		"ok    image nginx: nginx/Dockerfile stage (last stage) (service nginx of docker-compose.prod.yaml)",
		"ok    release: roles: proxy nginx; routed backend, frontend; stateful redis",
		"ok    certbot 2.1.0",
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// Every probe runs whatever the others found, each problem is one FAIL line,
// and the exit is non-zero.
func TestCheckReportsEachProblem(t *testing.T) {
	cases := []struct {
		name     string
		mode     string // of fakeDocker; "none" is no docker at all
		prepare  func(t *testing.T, root string)
		environ  []string
		want     []string
		problems int
	}{
		{name: "compose plugin missing: the engine is still reported", mode: "nocompose", want: []string{
			"ok    docker 28.2.2",
			"FAIL  the docker compose plugin is missing: install docker-compose-plugin",
			"ok    engine 20.10.24 answers",
		}, problems: 1},
		{name: "engine down, at the DOCKER_HOST of the options", mode: "noengine", environ: []string{"DOCKER_HOST=unix:///run/elsewhere.sock"}, want: []string{
			"ok    docker 28.2.2", "ok    docker compose 2.40.3",
			"FAIL  the Docker engine is unreachable at unix:///run/elsewhere.sock: start it",
			"ok    debug: docker-compose.debug.yaml loads with them",
		}, problems: 1},
		{name: "docker not installed", mode: "none", want: []string{
			"FAIL  docker is not installed: install Docker Engine",
			"note  certbot is not installed: prod:certbot and prod:renew need it",
			"ok    VERSION 0.1.0",
		}, problems: 3},
		{name: "Dockerfile without a needed stage", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "frontend/Dockerfile", "ARG NODE=node:22\n# a build stage\nFROM ${NODE} AS build\nFROM build AS Runtime-Dev\n")
		}, want: []string{
			`FAIL  frontend/Dockerfile has no stage named "runtime" for image frontend (target of service frontend of docker-compose.prod.yaml; its stages: build, runtime-dev): add one, FROM … AS runtime`,
			"ok    image frontend-dev: frontend/Dockerfile stage runtime-dev (service frontend of docker-compose.debug.yaml)",
		}, problems: 1},
		{name: "Dockerfile missing", prepare: func(t *testing.T, root string) { os.Remove(filepath.Join(root, "backend/Dockerfile")) }, want: []string{
			`FAIL  backend/Dockerfile: Dockerfile of image backend is missing (declared by service backend of docker-compose.prod.yaml): add it with a stage named "runtime"`,
			`FAIL  backend/Dockerfile: Dockerfile of image backend-dev is missing (declared by service backend of docker-compose.debug.yaml): add it with a stage named "runtime-dev"`,
		}, problems: 2},
		{name: "Dockerfile without FROM", prepare: func(t *testing.T, root string) { writeFile(t, root, "nginx/Dockerfile", "RUN true\n") }, want: []string{
			"FAIL  nginx/Dockerfile: no FROM instruction",
		}, problems: 1},
		{name: "env file does not parse: its compose file is skipped", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.test", "BROKEN LINE\n")
		}, want: []string{
			`FAIL  docker/.env.test:1: cannot parse "BROKEN": a variable name cannot contain a space`,
			"skip  docker-compose.test.yaml: not loaded until its env file loads",
			"ok    prod: docker-compose.prod.yaml loads with them",
		}, problems: 1},
		{name: "compose file missing", prepare: func(t *testing.T, root string) { os.Remove(filepath.Join(root, "docker-compose.prod.yaml")) }, want: []string{
			"ok    prod: env files docker/.env.prod",
			`FAIL  docker-compose.prod.yaml: compose file of environment "prod" is missing`,
		}, problems: 1},
		{name: "VERSION not semver", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.release", "VERSION=one\nDOMAIN=x.example\n")
		}, want: []string{
			`FAIL  VERSION="one" (from docker/.env.release) is not a semantic version`,
		}, problems: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := project(t)
			o, out, _ := options(root, false, c.environ...)
			switch c.mode {
			case "none":
				empty := t.TempDir()
				t.Setenv("PATH", empty)
				o.Environ = append(o.Environ, "PATH="+empty)
			case "":
				fakeDocker(t, "ok")
				o.Environ = append(o.Environ, "PATH="+os.Getenv("PATH"))
			default:
				fakeDocker(t, c.mode)
				o.Environ = append(o.Environ, "PATH="+os.Getenv("PATH"))
			}
			if c.prepare != nil {
				c.prepare(t, root)
			}
			err := Check(context.Background(), o)
			if want := fmt.Sprintf("check found %d problem(s)", c.problems); err == nil || err.Error() != want {
				t.Errorf("err = %v, want %s\n%s", err, want, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out)
				}
			}
			if n := strings.Count(out.String(), "FAIL  "); n != c.problems {
				t.Errorf("%d FAIL lines for %d problems:\n%s", n, c.problems, out)
			}
		})
	}
}

// A target runs its command without probing the engine first: the command
// tells whether the engine answers.
func TestNoProbeBeforeACommand(t *testing.T) {
	cases := []struct {
		name string
		run  func(context.Context, *session.Session) error
		want []string
	}{
		{"stack:ps", func(c context.Context, o *session.Session) error { return Ps(c, o, "debug") }, []string{"docker " + debug[len("docker "):] + " ps"}},
		{"stack:down", func(c context.Context, o *session.Session) error { return Down(c, o, "test") }, []string{"docker " + test[len("docker "):] + " down --remove-orphans"}},
		{"docker:push", func(c context.Context, o *session.Session) error { return Push(c, o, "nginx") }, []string{
			"docker push " + reg + "/nginx:0.1.0", "docker push " + reg + "/nginx:latest"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, calls := fakeDocker(t, "ok")
			o, _, log := options(project(t), false)
			if err := c.run(context.Background(), o); err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			data, _ := os.ReadFile(calls)
			if got := strings.Split(strings.TrimSpace(string(data)), "\n"); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("ran:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// When a command fails, the tool asks why: docker's own state gets one
// line; a failure of the command itself comes back as it is, with its
// exit status.
func TestFailureIsExplained(t *testing.T) {
	cases := []struct {
		mode    string
		environ []string
		run     func(context.Context, *session.Session) error
		want    string
		status  int
	}{
		{"noengine", []string{"DOCKER_HOST=unix:///run/stopped.sock"}, func(c context.Context, o *session.Session) error { return Ps(c, o, "debug") },
			"the Docker engine is unreachable at unix:///run/stopped.sock: start it", 1},
		{"noengine", nil, func(c context.Context, o *session.Session) error { return Pull(c, o, "nginx") }, "the Docker engine is unreachable at unix:///var/run/docker.sock", 1},
		{"nocompose", nil, func(c context.Context, o *session.Session) error { return Logs(c, o, "test") }, "the docker compose plugin is missing", 1},
		{"fails", nil, func(c context.Context, o *session.Session) error { return Ps(c, o, "debug") }, debug + " ps: exit status 3", 3},
		{"fails", nil, func(c context.Context, o *session.Session) error { return Exec(c, o, "debug", "backend", "false") }, "exit status 3", 3},
	}
	for _, c := range cases {
		t.Run(c.mode+" "+c.want, func(t *testing.T) {
			fakeDocker(t, c.mode)
			o, _, _ := options(project(t), false, c.environ...)
			err := c.run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line with %q", err, c.want)
			}
			if got := mg.ExitStatus(err); got != c.status {
				t.Fatalf("exit status %d, want %d", got, c.status)
			}
		})
	}
}
