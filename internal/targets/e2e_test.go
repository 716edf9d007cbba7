package targets

import (
	"context"
	"errors"
	"fmt"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

const (
	e2eCreate = "docker create --name dtx-test-e2e-runner --label com.docker.compose.project=dtx-test --network dtx-test_test-network --init --workdir /e2e --env E2E_BASE_URL=https://nginx --env E2E_RESULTS=results "
	e2eBuild  = build + "3 images)"
	e2eCert   = "[dry-run] generate a self-signed certificate for localhost, 127.0.0.1 in nginx/data/ssl/ if none is valid there"
)

// e2eProject is project() with the default Cypress specs folder.
func e2eProject(t *testing.T) string {
	root := project(t)
	writeFile(t, root, "frontend/tests/cypress/e2e/starter.cy.js", "// a spec\n")
	writeFile(t, root, "frontend/tests/browser/starter.spec.mjs", "// a spec\n")
	return root
}

// The dry run prints build, up, run, copy and down, and changes nothing.
func TestE2EDryRun(t *testing.T) {
	cases := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"defaults: Cypress", nil, []string{
			"[dry-run] unless the engine has cypress/included:15.3.0:",
			"[dry-run] docker pull cypress/included:15.3.0",
			e2eBuild, folders, e2eCert, fmt.Sprintf(override, "test", devKeys),
			"[dry-run] " + withOverride(test, "test") + " up --detach --wait --wait-timeout 120 --remove-orphans",
			"[dry-run] " + e2eCreate + "cypress/included:15.3.0",
			"[dry-run] docker cp frontend/tests/cypress/. dtx-test-e2e-runner:/e2e",
			"[dry-run] docker start --attach dtx-test-e2e-runner",
			"[dry-run] remove test-results/e2e/ (the previous run's results)",
			"[dry-run] docker cp dtx-test-e2e-runner:/e2e/results test-results/e2e",
			"[dry-run] docker rm --force dtx-test-e2e-runner",
			"[dry-run] " + withOverride(test, "test") + " down --remove-orphans",
		}},
		{"the Chromium runner, KEEP=1", []string{"E2E_RUNNER_IMAGE=dtx-browser-runner:1", "E2E_SPECS=frontend/tests/browser", "E2E_RUNNER_COMMAND=node /opt/runner/run.mjs", "KEEP=1"}, []string{
			"[dry-run] unless the engine has dtx-browser-runner:1:",
			"[dry-run] docker pull dtx-browser-runner:1",
			e2eBuild, folders, e2eCert, fmt.Sprintf(override, "test", devKeys),
			"[dry-run] " + withOverride(test, "test") + " up --detach --wait --wait-timeout 120 --remove-orphans",
			"[dry-run] " + e2eCreate + "dtx-browser-runner:1 node /opt/runner/run.mjs",
			"[dry-run] docker cp frontend/tests/browser/. dtx-test-e2e-runner:/e2e",
			"[dry-run] docker start --attach dtx-test-e2e-runner",
			"[dry-run] remove test-results/e2e/ (the previous run's results)",
			"[dry-run] docker cp dtx-test-e2e-runner:/e2e/results test-results/e2e",
			"[dry-run] docker rm --force dtx-test-e2e-runner",
		}},
		{"another project prefix", []string{"COMPOSE_PROJECT_PREFIX=ci7"}, []string{
			"[dry-run] unless the engine has cypress/included:15.3.0:",
			"[dry-run] docker pull cypress/included:15.3.0",
			e2eBuild, folders, e2eCert, fmt.Sprintf(override, "test", devKeys),
			"[dry-run] docker compose --project-name ci7-test -f docker-compose.test.yaml -f docker/.env.test.compose.yaml --env-file docker/.env.test up --detach --wait --wait-timeout 120 --remove-orphans",
			"[dry-run] docker create --name ci7-test-e2e-runner --label com.docker.compose.project=ci7-test --network ci7-test_test-network --init --workdir /e2e --env E2E_BASE_URL=https://nginx --env E2E_RESULTS=results cypress/included:15.3.0",
			"[dry-run] docker cp frontend/tests/cypress/. ci7-test-e2e-runner:/e2e",
			"[dry-run] docker start --attach ci7-test-e2e-runner",
			"[dry-run] remove test-results/e2e/ (the previous run's results)",
			"[dry-run] docker cp ci7-test-e2e-runner:/e2e/results test-results/e2e",
			"[dry-run] docker rm --force ci7-test-e2e-runner",
			"[dry-run] docker compose --project-name ci7-test -f docker-compose.test.yaml -f docker/.env.test.compose.yaml --env-file docker/.env.test down --remove-orphans",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := e2eProject(t)
			before := tree(t, root)
			o, _, log := options(root, true)
			o.Environ = append([]string{"PATH=/nonexistent"}, c.environ...) // no docker: a dry run needs none
			if err := o.Do(func(o *session.Session) error { return E2E(context.Background(), o) }); err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			got := commandLines(log.String())
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if after := tree(t, root); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Fatalf("dry run changed files: %v", after)
			}
		})
	}
}

// Bad input is one line before anything runs or is written.
func TestE2EBadInput(t *testing.T) {
	cases := []struct {
		name    string
		environ []string
		prepare func(t *testing.T, root string)
		want    string
	}{
		{name: "unknown runner image", environ: []string{"E2E_RUNNER_IMAGE=Cypress:latest"},
			want: `E2E_RUNNER_IMAGE="Cypress:latest" (from the process environment) is not a valid image reference`},
		{name: "runner image from docker/.env.test.local", prepare: func(t *testing.T, root string) {
			writeFile(t, root, "docker/.env.test.local", "E2E_RUNNER_IMAGE=-it\n")
		}, want: `E2E_RUNNER_IMAGE (from docker/.env.test.local) starts with '-'`}, // a .local value is not shown
		{name: "specs folder missing", environ: []string{"E2E_SPECS=e2e/specs"},
			want: `E2E_SPECS="e2e/specs" (from the process environment): the specs folder is missing: create it, or set E2E_SPECS to the folder of the end-to-end specs (default frontend/tests/cypress)`},
		{name: "default specs folder missing", prepare: func(t *testing.T, root string) { os.RemoveAll(filepath.Join(root, "frontend/tests/cypress")) },
			want: `E2E_SPECS="frontend/tests/cypress" (from docker/.env.test (unset)): the specs folder is missing`},
		{name: "runner command with an open quote", environ: []string{`E2E_RUNNER_COMMAND=cypress run --spec "e2e/a.cy.js`},
			want: `E2E_RUNNER_COMMAND (from the process environment): the command has an unterminated " quote`},
		{name: "KEEP", environ: []string{"KEEP=always"}, want: `KEEP="always" from the process environment: use 1 or 0`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, calls := fakeDocker(t, "ok")
			root := e2eProject(t)
			if c.prepare != nil {
				c.prepare(t, root)
			}
			before := tree(t, root)
			o, out, log := options(root, false, c.environ...)
			err := o.Do(func(o *session.Session) error { return E2E(context.Background(), o) })
			if err == nil {
				t.Fatalf("no error; output:\n%s%s", out, log)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error:\n  %q\nwant one line containing:\n  %s", err, c.want)
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

// runnerDocker is a docker whose runner container exits with status (99:
// the engine has no runner image and cannot pull it): it
// records the calls, answers the build summary's inspect, and "copies" a
// screenshot out of the container. The end-to-end suite runs the real one.
func runnerDocker(t *testing.T, status string) (calls string) {
	t.Helper()
	bin := t.TempDir()
	calls = filepath.Join(bin, "calls")
	script := `#!/bin/sh
echo "docker $*" >> "` + calls + `"
[ "$1" = --log-level ] && shift 2
case "$1 $2" in
  "image inspect") [ "$3" = --format ] && [ "$4" = "{{.Id}}" ] && [ ` + status + ` = 99 ] && { echo "Error: No such image: $5" >&2; exit 1; } ;;
esac
case "$1 $2" in
  "pull "*) [ ` + status + ` = 99 ] && { echo "Error response from daemon: pull access denied for $2" >&2; exit 1; } ;;
  "version --format") echo 20.10.24 ;;
  "compose version") echo 2.40.3 ;;
  "image inspect") shift 4; for r in "$@"; do echo "1000 2020-01-01T00:00:00Z"; done ;;
  "start --attach") echo "runner: 1 failed"; exit ` + status + ` ;;
  "cp dtx-test-e2e-runner:/e2e/results") mkdir -p "$3/screenshots" && echo png > "$3/screenshots/starter.png" ;;
esac
exit 0
`
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return calls
}

// The runner's status is the target's; its results are copied, then the
// runner and the stack are removed (not the stack with KEEP=1).
func TestE2ERunsTearsDownAndExitsWithTheRunnersStatus(t *testing.T) {
	cases := []struct {
		name   string
		status string
		keep   bool
	}{
		{"runner passes", "0", false},
		{"runner fails with 3", "3", false},
		{"runner fails, KEEP=1", "2", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := runnerDocker(t, c.status)
			root := e2eProject(t)
			writeFile(t, root, "test-results/e2e/old.png", "the previous run's\n")
			var environ []string
			if c.keep {
				environ = append(environ, "KEEP=1")
			}
			o, _, log := options(root, false, environ...)
			err := o.Do(func(o *session.Session) error { return E2E(context.Background(), o) })
			var exit *runner.ExitError
			switch {
			case c.status == "0" && err != nil:
				t.Fatalf("%v\n%s", err, log)
			case c.status != "0" && (!errors.As(err, &exit) || strconv.Itoa(exit.Code) != c.status):
				t.Fatalf("error %v does not carry exit status %s\n%s", err, c.status, log)
			}
			if _, err := os.Stat(filepath.Join(root, "test-results/e2e/screenshots/starter.png")); err != nil {
				t.Errorf("no screenshot in test-results/e2e: %v", err)
			}
			if _, err := os.Stat(filepath.Join(root, "test-results/e2e/old.png")); err == nil {
				t.Errorf("the previous run's results were kept beside the new ones")
			}
			data, _ := os.ReadFile(calls)
			var order []string
			for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				f := strings.Fields(l)
				switch {
				case len(f) < 2 || f[1] == "--version" || f[1] == "version" || strings.HasPrefix(l, "docker compose version"):
					// the probes that explain a failure
				case len(f) > 3 && f[1] == "--log-level":
					order = append(order, "build")
				case strings.Contains(l, " up --detach"):
					order = append(order, "up")
				case len(f) > 1 && f[1] != "compose" && f[1] != "image":
					order = append(order, f[1])
				case strings.Contains(l, " down --remove-orphans"):
					order = append(order, "down")
				}
			}
			want := "build up ps create cp start cp rm down"
			if c.keep {
				want = strings.TrimSuffix(want, " down")
			}
			if got := strings.Join(order, " "); got != want {
				t.Fatalf("ran %s, want %s\n%s", got, want, data)
			}
			if c.keep && !strings.Contains(log.String(), "KEEP=1: the test stack keeps running (the site is at https://localhost:8443/); ./dtx stack:down test removes it") {
				t.Errorf("KEEP=1 does not say the stack runs:\n%s", log)
			}
		})
	}
}

// A runner image the engine neither has nor can pull stops the run before
// the build and the stack, in one line.
func TestE2EUnknownRunnerImage(t *testing.T) {
	calls := runnerDocker(t, "99")
	root := e2eProject(t)
	o, _, log := options(root, false, "E2E_RUNNER_IMAGE=cypress/includd:15.3.0")
	err := o.Do(func(o *session.Session) error { return E2E(context.Background(), o) })
	want := `E2E_RUNNER_IMAGE="cypress/includd:15.3.0": the engine does not have this image and cannot pull it: check the name, build it first, or unset E2E_RUNNER_IMAGE for cypress/included:15.3.0 (docker pull cypress/includd:15.3.0: exit status 1)`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n  %v\nwant:\n  %s\n%s", err, want, log)
	}
	data, _ := os.ReadFile(calls)
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.Contains(l, " --project-name ") || strings.Contains(l, " create ") {
			t.Errorf("ran %q after the pull failed", l)
		}
	}
}
