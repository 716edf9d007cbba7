package targets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPassesOnAHealthyProject(t *testing.T) {
	fakeDocker(t, "ok")
	o, out, _ := options(project(t), false)
	if err := Check(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"ok    debug: docker-compose.debug.yaml with docker/.env.dev",
		"ok    release: docker-compose.release.yaml with docker/.env.release",
		"ok    VERSION 0.1.0",
		"ok    image frontend-dev: frontend/Dockerfile target runtime-dev",
		"ok    docker 28.2.2", "ok    docker compose 2.40.3", "ok    engine 20.10.24 answers", "ok    certbot 2.1.0",
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// Every problem is reported, not just the first, and the exit is non-zero.
func TestCheckReportsEveryProblem(t *testing.T) {
	fakeDocker(t, "noengine")
	root := project(t)
	os.Remove(filepath.Join(root, "backend/Dockerfile"))
	writeFile(t, root, "docker/.env.test", "BROKEN LINE\n")
	writeFile(t, root, "docker/.env.release", "VERSION=one\nDOMAIN=x.example\n")
	o, out, _ := options(root, false)
	err := Check(context.Background(), o)
	if err == nil || err.Error() != "check found 5 problem(s)" {
		t.Fatalf("err = %v\n%s", err, out)
	}
	for _, want := range []string{
		`FAIL  docker/.env.test:1: cannot parse "BROKEN": a variable name cannot contain a space`,
		`FAIL  VERSION="one" from docker/.env.release is not a semantic version`,
		`FAIL  backend/Dockerfile: Dockerfile of image backend is missing: add it with a stage named "runtime"`,
		`FAIL  backend/Dockerfile: Dockerfile of image backend-dev is missing: add it with a stage named "runtime-dev"`,
		"FAIL  the Docker engine is unreachable at ",
		"ok    debug: docker-compose.debug.yaml",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
