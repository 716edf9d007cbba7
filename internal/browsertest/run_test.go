package browsertest

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

const (
	// testStack is a compose command of the test stack, with the env
	// override the stack's start writes (compose then reads it as well).
	testStack = "docker compose --project-name dtx-test -f docker-compose.test.yaml -f docker/.env.test.compose.yaml --env-file docker/.env.test"
	e2eCreate = "docker create --name dtx-test-e2e-runner --label com.docker.compose.project=dtx-test --network dtx-test_test-network --init --workdir /e2e --env E2E_BASE_URL=https://nginx --env E2E_RESULTS=results "
	// e2eStart is what startStack prints in a dry run.
	e2eStart = "[dry-run] mkdir -p nginx/data/ssl nginx/data/certbot/www nginx/data/certbot/conf backend/.redis_data backend/.data\n" +
		"[dry-run] generate a self-signed certificate for localhost, 127.0.0.1 in nginx/data/ssl/ if none is valid there\n" +
		"[dry-run] write docker/.env.test.compose.yaml: backend, frontend take DEBUG, DOMAIN, HTTPS_PORT, HTTP_PORT, PUBLISH_ADDRESS from the project environment (the process over the env files), names only\n" +
		"[dry-run] " + testStack + " up --detach --wait --remove-orphans"
)

// e2eProject is a project root with the test environment's compose and env
// files, copied from the repository, and the starter's specs folders.
func e2eProject(t *testing.T) string {
	t.Helper()
	e, err := stack.LookupEnvironment(Environment)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"frontend/tests/cypress/e2e/starter.cy.js": "// a spec\n",
		"frontend/tests/browser/starter.spec.mjs":  "// a spec\n",
	}
	for _, rel := range []string{e.ComposeFile, e.EnvFile} {
		data, err := os.ReadFile(filepath.Join("..", "..", rel))
		if err != nil {
			t.Fatal(err)
		}
		files[rel] = string(data)
	}
	root := t.TempDir()
	put(t, root, files)
	return root
}

// put writes files (content by path relative to root) under root.
func put(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// files lists every path under root, to prove a run wrote nothing.
func files(root string) string {
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		paths = append(paths, rel)
		return nil
	})
	sort.Strings(paths)
	return strings.Join(paths, ",")
}

// startStack is a start as test:e2e's entry point gives Run, but without
// the build of the dev images (the entry point's dry-run plan in
// internal/targets shows it): the stack prepared, then up until healthy.
func startStack(s *session.Stack) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := s.Prepare(ctx); err != nil {
			return err
		}
		return s.Compose(ctx, "up", "--detach", "--wait", "--remove-orphans")
	}
}

// runE2E opens the test stack of root and runs the browser tests on it; the
// session's environment is this process's PATH and environ.
func runE2E(root string, dry bool, environ ...string) (err error, log *bytes.Buffer) {
	log = &bytes.Buffer{}
	env := append([]string{"PATH=" + os.Getenv("PATH")}, environ...)
	o := session.New(session.Config{Root: root, Environ: env, DryRun: dry, Stdout: log, Stderr: log})
	err = o.Do(func(o *session.Session) error {
		s, err := o.Open(Environment)
		if err != nil {
			return err
		}
		return Run(context.Background(), s, startStack(s))
	})
	return err, log
}

// The dry run prints the pull, the start, the run, the copy and the
// teardown, and changes nothing.
func TestRunDryRun(t *testing.T) {
	cases := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"defaults: Cypress", nil, []string{
			"[dry-run] unless the engine has cypress/included:15.3.0:",
			"[dry-run] docker pull cypress/included:15.3.0",
			e2eStart,
			"[dry-run] " + e2eCreate + "cypress/included:15.3.0",
			"[dry-run] docker cp frontend/tests/cypress/. dtx-test-e2e-runner:/e2e",
			"[dry-run] docker start --attach dtx-test-e2e-runner",
			"[dry-run] remove test-results/e2e/ (the previous run's results)",
			"[dry-run] docker cp dtx-test-e2e-runner:/e2e/results test-results/e2e",
			"[dry-run] docker rm --force dtx-test-e2e-runner",
			"[dry-run] " + testStack + " down --remove-orphans",
		}},
		{"the Chromium runner, KEEP=1", []string{"E2E_RUNNER_IMAGE=dtx-browser-runner:1", "E2E_SPECS=frontend/tests/browser", "E2E_RUNNER_COMMAND=node /opt/runner/run.mjs", "KEEP=1"}, []string{
			"[dry-run] unless the engine has dtx-browser-runner:1:",
			"[dry-run] docker pull dtx-browser-runner:1",
			e2eStart,
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
			strings.ReplaceAll(e2eStart, "dtx-test", "ci7-test"),
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
			before := files(root)
			// No docker on PATH: a dry run needs none.
			err, log := runE2E(root, true, append([]string{"PATH=/nonexistent"}, c.environ...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			var got []string
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.HasPrefix(l, "[dry-run] ") {
					got = append(got, l)
				}
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if after := files(root); after != before {
				t.Fatalf("dry run changed files: %v", after)
			}
		})
	}
}

// Bad input is one line before anything runs or is written.
func TestRunBadInput(t *testing.T) {
	cases := []struct {
		name    string
		environ []string
		prepare func(t *testing.T, root string)
		want    string
	}{
		{name: "unknown runner image", environ: []string{"E2E_RUNNER_IMAGE=Cypress:latest"},
			want: `E2E_RUNNER_IMAGE="Cypress:latest" (from the process environment) is not a valid image reference`},
		{name: "runner image from docker/.env.test.local", prepare: func(t *testing.T, root string) {
			put(t, root, map[string]string{"docker/.env.test.local": "E2E_RUNNER_IMAGE=-it\n"})
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
			calls := runnerDocker(t, "0", false)
			root := e2eProject(t)
			if c.prepare != nil {
				c.prepare(t, root)
			}
			before := files(root)
			err, log := runE2E(root, false, c.environ...)
			if err == nil {
				t.Fatalf("no error; output:\n%s", log)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error:\n  %q\nwant one line containing:\n  %s", err, c.want)
			}
			if ran := ran(t, calls); len(ran) > 0 {
				t.Fatalf("ran %v despite the bad input", ran)
			}
			if after := files(root); after != before {
				t.Fatalf("wrote files despite the bad input: %v", after)
			}
		})
	}
}

// runnerDocker is a docker whose runner container exits with status (99:
// the engine has no runner image and cannot pull it), and whose compose up
// fails as one of a stack that does not become healthy when upFails: it
// records the calls and "copies" a screenshot out of the container. Its
// runner takes FAKE_RUNNER_SECONDS (of the session's environment). The
// end-to-end suite runs the real one.
func runnerDocker(t *testing.T, status string, upFails bool) (calls string) {
	t.Helper()
	bin := t.TempDir()
	calls = filepath.Join(bin, "calls")
	script := `#!/bin/sh
echo "docker $*" >> "` + calls + `"
case "$1 $2" in
  "image inspect") [ "$3" = --format ] && [ "$4" = "{{.Id}}" ] && [ ` + status + ` = 99 ] && { echo "Error: No such image: $5" >&2; exit 1; } ;;
esac
case "$*" in
  *" up --detach "*) [ ` + strconv.FormatBool(upFails) + ` = true ] && { echo "dependency failed to start: container dtx-test-nginx-1 is unhealthy" >&2; exit 1; } ;;
esac
case "$1 $2" in
  "pull "*) [ ` + status + ` = 99 ] && { echo "Error response from daemon: pull access denied for $2" >&2; exit 1; } ;;
  "version --format") echo 20.10.24 ;;
  "compose version") echo 2.40.3 ;;
  "start --attach") sleep "${FAKE_RUNNER_SECONDS:-0}"; echo "runner: 1 failed"; exit ` + status + ` ;;
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

// ran is what the recorded docker calls did, in order, by their verb (up
// and down for compose's), without the probes that only read or explain a
// failure (versions, image inspect).
func ran(t *testing.T, calls string) []string {
	t.Helper()
	data, err := os.ReadFile(calls)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) < 2 || f[1] == "--version" || f[1] == "version" || strings.HasPrefix(l, "docker compose version"):
		case strings.Contains(l, " up --detach"):
			order = append(order, "up")
		case strings.Contains(l, " down --remove-orphans"):
			order = append(order, "down")
		case f[1] != "compose" && f[1] != "image":
			order = append(order, f[1])
		}
	}
	return order
}

// The runner's status is the target's; its results are copied, then the
// runner and the stack are removed (not the stack with KEEP=1).
func TestRunTearsDownAndExitsWithTheRunnersStatus(t *testing.T) {
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
			calls := runnerDocker(t, c.status, false)
			root := e2eProject(t)
			put(t, root, map[string]string{"test-results/e2e/old.png": "the previous run's\n"})
			var environ []string
			if c.keep {
				environ = append(environ, "KEEP=1")
			}
			err, log := runE2E(root, false, environ...)
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
			want := "up ps create cp start cp rm down"
			if c.keep {
				want = strings.TrimSuffix(want, " down")
			}
			if got := strings.Join(ran(t, calls), " "); got != want {
				t.Fatalf("ran %s, want %s", got, want)
			}
			if c.keep && !strings.Contains(log.String(), "KEEP=1: the test stack keeps running (the site is at https://localhost:8443/); ./dtx stack:down test removes it") {
				t.Errorf("KEEP=1 does not say the stack runs:\n%s", log)
			}
		})
	}
}

// The teardown's time counts from the end of the run: a runner that takes
// longer than it still has its results copied, and is removed with the
// stack.
func TestRunTeardownTimeCountsFromTheEndOfTheRun(t *testing.T) {
	defer func(d time.Duration) { teardownTimeout = d }(teardownTimeout)
	teardownTimeout = time.Second
	calls := runnerDocker(t, "0", false)
	root := e2eProject(t)
	if err, log := runE2E(root, false, "FAKE_RUNNER_SECONDS=2"); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if _, err := os.Stat(filepath.Join(root, "test-results/e2e/screenshots/starter.png")); err != nil {
		t.Errorf("no screenshot in test-results/e2e: %v", err)
	}
	if got, want := strings.Join(ran(t, calls), " "), "up ps create cp start cp rm down"; got != want {
		t.Fatalf("ran %s, want %s", got, want)
	}
}

// A stack that does not start fails the run with compose's status before
// any runner exists, and is removed.
func TestRunStackThatDoesNotStart(t *testing.T) {
	calls := runnerDocker(t, "0", true)
	err, log := runE2E(e2eProject(t), false)
	var exit *runner.ExitError
	if !errors.As(err, &exit) || exit.Code != 1 {
		t.Fatalf("error %v does not carry compose's exit status 1\n%s", err, log)
	}
	if got, want := strings.Join(ran(t, calls), " "), "up down"; got != want {
		t.Fatalf("ran %s, want %s", got, want)
	}
}

// A runner image the engine neither has nor can pull stops the run before
// the stack starts, in one line.
func TestRunUnknownRunnerImage(t *testing.T) {
	calls := runnerDocker(t, "99", false)
	err, log := runE2E(e2eProject(t), false, "E2E_RUNNER_IMAGE=cypress/includd:15.3.0")
	want := `E2E_RUNNER_IMAGE="cypress/includd:15.3.0": the engine does not have this image and cannot pull it: check the name, build it first, or unset E2E_RUNNER_IMAGE for cypress/included:15.3.0 (docker pull cypress/includd:15.3.0: exit status 1)`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n  %v\nwant:\n  %s\n%s", err, want, log)
	}
	if got := strings.Join(ran(t, calls), " "); got != "pull" {
		t.Fatalf("ran %s, want only the pull", got)
	}
}
