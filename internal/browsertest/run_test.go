package browsertest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	e2eCreate = "docker create --name dtx-test-e2e-runner --label com.docker.compose.project=dtx-test --network dtx-test_test-network --init --workdir /e2e --env E2E_BASE_URL=https://nginx:8443 --env E2E_RESULTS=/e2e/e2e-results "
	pwEnv     = "--env PLAYWRIGHT_BASE_URL=https://nginx:8443 --env PLAYWRIGHT_HTML_OPEN=never "
	cyEnv     = "--env CYPRESS_BASE_URL=https://nginx:8443 --env CYPRESS_SCREENSHOTS_FOLDER=/e2e/e2e-results/screenshots --env CYPRESS_VIDEOS_FOLDER=/e2e/e2e-results/videos "
	runnerRef = "ghcr.io/kettleofketchup/dtx_website/playwright-runner:latest"
	// e2eStart is what startStack prints in a dry run.
	e2eStart = "[dry-run] mkdir -p nginx/data/ssl nginx/data/certbot/www nginx/data/certbot/conf\n" +
		"[dry-run] generate a self-signed certificate for localhost, 127.0.0.1 in nginx/data/ssl/ if none is valid there\n" +
		"[dry-run] write docker/.env.test.compose.yaml: backend, frontend take DEBUG, DOMAIN, HTTPS_PORT, HTTP_PORT, PUBLISH_ADDRESS from the project environment (the process over the env files), names only\n" +
		"[dry-run] " + testStack + " up --detach --wait --remove-orphans"
	copyIn  = " < (frontend/ as a tar: without node_modules, .git, test-results, playwright-report, blob-report"
	copyOut = "[dry-run] docker cp dtx-test-e2e-runner:/e2e/e2e-results - > test-results/e2e/ (files and folders only: links are dropped)"
)

// e2eProject is a project root with the test environment's compose and env
// files, copied from the repository, the runner's compose file, and a
// frontend holding a Playwright project (with installed packages and a
// link, which the copy into the runner leaves out and keeps as a link).
func e2eProject(t *testing.T) string {
	t.Helper()
	e, err := stack.LookupEnvironment(Environment)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"frontend/playwright.config.ts":                 "export default {};\n",
		"frontend/tests/playwright/e2e/starter.spec.ts": "// a spec\n",
		"frontend/node_modules/left/out.js":             "// installed here, built for here\n",
		"frontend/test-results/old.txt":                 "an earlier run's\n",
		RunnerCompose:                                   "# the runner's build\n",
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
	if err := os.Symlink("../docker", filepath.Join(root, "frontend", "shared")); err != nil {
		t.Fatal(err)
	}
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
	return runE2EWith(root, dry, Options{}, environ...)
}

// runE2EWith is runE2E with test:e2e's options.
func runE2EWith(root string, dry bool, opts Options, environ ...string) (err error, log *bytes.Buffer) {
	log = &bytes.Buffer{}
	env := append([]string{"PATH=" + os.Getenv("PATH")}, environ...)
	o := session.New(session.Config{Root: root, Environ: env, DryRun: dry, Stdout: log, Stderr: log})
	err = o.Do(func(o *session.Session) error {
		s, err := o.Open(Environment)
		if err != nil {
			return err
		}
		return Run(context.Background(), s, opts, startStack(s))
	})
	return err, log
}

// The dry run prints the runner's build (or pull), the start, the run, the
// copies and the teardown, and changes nothing.
func TestRunDryRun(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, root string)
		opts    Options
		environ []string
		want    []string
	}{
		{"defaults: the frontend's Playwright project", nil, Options{}, nil, []string{
			"[dry-run] REGISTRY=ghcr.io/kettleofketchup/dtx_website docker compose -f test/browser/compose.yaml build",
			e2eStart,
			"[dry-run] " + e2eCreate + pwEnv + runnerRef + " playwright test --config=playwright.dtx.config.ts",
			"[dry-run] docker cp - dtx-test-e2e-runner:/e2e" + copyIn + "; with playwright.dtx.config.ts)",
			"[dry-run] docker start --attach dtx-test-e2e-runner",
			"[dry-run] remove test-results/e2e/ (the previous run's results)",
			copyOut,
			"[dry-run] docker rm --force dtx-test-e2e-runner",
			"[dry-run] " + testStack + " down --remove-orphans",
		}},
		{"a shard of one spec, on a base of one's own, in CI", nil, Options{Shard: "2/3", Spec: "frontend/tests/playwright/e2e/starter.spec.ts"},
			[]string{"BROWSER_BASE_IMAGE=dtx-base:bookworm", "REGISTRY=127.0.0.1:5000/site", "CI=true"}, []string{
				"[dry-run] REGISTRY=127.0.0.1:5000/site BROWSER_BASE_IMAGE=dtx-base:bookworm docker compose -f test/browser/compose.yaml build",
				e2eStart,
				"[dry-run] " + e2eCreate + pwEnv + "--env E2E_SHARD=2/3 --env CI=true 127.0.0.1:5000/site/playwright-runner:latest playwright test --config=playwright.dtx.config.ts --shard=2/3 tests/playwright/e2e/starter.spec.ts",
				"[dry-run] docker cp - dtx-test-e2e-runner:/e2e" + copyIn + "; with playwright.dtx.config.ts)",
				"[dry-run] docker start --attach dtx-test-e2e-runner",
				"[dry-run] remove test-results/e2e/ (the previous run's results)",
				copyOut,
				"[dry-run] docker rm --force dtx-test-e2e-runner",
				"[dry-run] " + testStack + " down --remove-orphans",
			}},
		{"a Cypress project, KEEP=1, another prefix", func(t *testing.T, root string) {
			os.Remove(filepath.Join(root, "frontend/playwright.config.ts"))
			put(t, root, map[string]string{"frontend/cypress.config.js": "module.exports = {};\n"})
		}, Options{Spec: "cypress/e2e/starter.cy.js"}, []string{"KEEP=1", "COMPOSE_PROJECT_PREFIX=ci7"}, []string{
			"[dry-run] unless the engine has cypress/included:15.3.0:",
			"[dry-run] docker pull cypress/included:15.3.0",
			strings.ReplaceAll(e2eStart, "dtx-test", "ci7-test"),
			"[dry-run] " + strings.ReplaceAll(e2eCreate, "dtx-test", "ci7-test") + cyEnv + "cypress/included:15.3.0 --spec cypress/e2e/starter.cy.js",
			"[dry-run] docker cp - ci7-test-e2e-runner:/e2e" + copyIn + ")",
			"[dry-run] docker start --attach ci7-test-e2e-runner",
			"[dry-run] remove test-results/e2e/ (the previous run's results)",
			strings.ReplaceAll(copyOut, "dtx-test", "ci7-test"),
			"[dry-run] docker rm --force ci7-test-e2e-runner",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := e2eProject(t)
			if c.prepare != nil {
				c.prepare(t, root)
			}
			before := files(root)
			// No docker on PATH: a dry run needs none.
			err, log := runE2EWith(root, true, c.opts, append([]string{"PATH=/nonexistent"}, c.environ...)...)
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
		opts    Options
		prepare func(t *testing.T, root string)
		want    string
	}{
		{name: "unknown runner image", environ: []string{"E2E_RUNNER_IMAGE=Cypress:latest"},
			want: `E2E_RUNNER_IMAGE="Cypress:latest" (from the process environment) is not a valid image reference`},
		{name: "runner image from docker/.env.test.local", prepare: func(t *testing.T, root string) {
			put(t, root, map[string]string{"docker/.env.test.local": "E2E_RUNNER_IMAGE=-it\n"})
		}, want: `E2E_RUNNER_IMAGE (from docker/.env.test.local) starts with '-'`}, // a .local value is not shown
		{name: "project folder missing", environ: []string{"E2E_DIR=web"},
			want: `E2E_DIR="web" (from the process environment): the folder is missing: set E2E_DIR to the folder that holds playwright.config.* or cypress.config.* (default frontend)`},
		{name: "no config in the frontend", prepare: func(t *testing.T, root string) { os.Remove(filepath.Join(root, "frontend/playwright.config.ts")) },
			want: `frontend holds no playwright.config.ts nor cypress.config.js: add the config of the website's browser tests there`},
		{name: "a framework whose config the frontend lacks", environ: []string{"E2E_FRAMEWORK=cypress"},
			want: `E2E_FRAMEWORK=cypress (from the process environment), but frontend holds no cypress.config.ts`},
		{name: "the runner's build is missing", prepare: func(t *testing.T, root string) { os.Remove(filepath.Join(root, RunnerCompose)) },
			want: `test/browser/compose.yaml is missing: it builds the Playwright runner; restore it, or set E2E_RUNNER_IMAGE to a Playwright runner image`},
		{name: "a base image that is no image", environ: []string{"BROWSER_BASE_IMAGE=debian bookworm"},
			want: `BROWSER_BASE_IMAGE`},
		{name: "runner command with an open quote", environ: []string{`E2E_RUNNER_COMMAND=playwright test "e2e/a.spec.ts`},
			want: `E2E_RUNNER_COMMAND (from the process environment): the command has an unterminated " quote`},
		{name: "a bad shard", opts: Options{Shard: "3"}, want: `-shard="3": write the shard as N/TOTAL, e.g. 1/4`},
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
			err, log := runE2EWith(root, false, c.opts, c.environ...)
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
// records the calls, keeps the project copied in (project.tar beside
// calls) and "copies" out resultsTar. Its runner takes
// FAKE_RUNNER_SECONDS (of the session's environment). The end-to-end
// suite runs the real one.
func runnerDocker(t *testing.T, status string, upFails bool) (calls string) {
	t.Helper()
	bin := t.TempDir()
	calls = filepath.Join(bin, "calls")
	if err := os.WriteFile(filepath.Join(bin, "results.tar"), resultsTar(t), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
echo "docker $*" >> "` + calls + `"
case "$1 $2" in
  "image inspect")
    [ ` + status + ` = 99 ] && { echo "Error: No such image: $5" >&2; exit 1; }
    echo sha256:0123
    exit 0 ;;
esac
case "$*" in
  *" up --detach "*) [ ` + strconv.FormatBool(upFails) + ` = true ] && { echo "dependency failed to start: container dtx-test-nginx-1 is unhealthy" >&2; exit 1; } ;;
esac
case "$1 $2" in
  "pull "*) [ ` + status + ` = 99 ] && { echo "Error response from daemon: pull access denied for $2" >&2; exit 1; } ;;
  "version --format") echo 20.10.24 ;;
  "compose version") echo 2.40.3 ;;
  "start --attach") sleep "${FAKE_RUNNER_SECONDS:-0}"; echo "1 failed"; exit ` + status + ` ;;
  "cp -") cat > "` + bin + `/project.tar" ;;
  "cp dtx-test-e2e-runner:/e2e/e2e-results") cat "` + bin + `/results.tar" ;;
esac
exit 0
`
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return calls
}

// resultsTar is what `docker cp CONTAINER:/e2e/e2e-results -` writes for a
// runner that left a report, a trace, and links (to a file of the host's, to
// a folder, and a hard link) that must not come out.
func resultsTar(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range []tar.Header{
		{Name: "e2e-results/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "e2e-results/report/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "e2e-results/report/index.html", Typeflag: tar.TypeReg, Mode: 0o644, Size: 14},
		{Name: "e2e-results/junit.xml", Typeflag: tar.TypeReg, Mode: 0o644, Size: 14},
		{Name: "e2e-results/artifacts/starter-fails/trace.zip", Typeflag: tar.TypeReg, Mode: 0o644, Size: 14},
		{Name: "e2e-results/passwd", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		{Name: "e2e-results/up", Typeflag: tar.TypeSymlink, Linkname: "../../.."},
		{Name: "e2e-results/report/same.xml", Typeflag: tar.TypeLink, Linkname: "e2e-results/junit.xml"},
	} {
		if err := tw.WriteHeader(&e); err != nil {
			t.Fatal(err)
		}
		if e.Size > 0 {
			tw.Write([]byte("the runner's.\n"[:e.Size]))
		}
	}
	tw.Close()
	return b.Bytes()
}

// ran is what the recorded docker calls did, in order, by their verb (up,
// down and build for compose's), without the probes that only read or
// explain a failure (versions, image inspect).
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
		case strings.HasSuffix(l, " -f "+RunnerCompose+" build"):
			order = append(order, "build")
		case f[1] != "compose" && f[1] != "image":
			order = append(order, f[1])
		}
	}
	return order
}

// tarEntries lists a tar's entries: name, and " -> target" for a link,
// with their owner.
func tarEntries(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		v := fmt.Sprintf("%d:%d", h.Uid, h.Gid)
		if h.Typeflag == tar.TypeSymlink {
			v += " -> " + h.Linkname
		}
		entries[h.Name] = v
	}
}

// The runner's status is the target's; the project goes in without its
// packages, with the wrapper config, as the runner's user's; the results
// come out without links; then the runner and the stack are removed (not
// the stack with KEEP=1).
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
			want := "build up ps create cp start cp rm down"
			if c.keep {
				want = strings.TrimSuffix(want, " down")
			}
			if got := strings.Join(ran(t, calls), " "); got != want {
				t.Fatalf("ran %s, want %s", got, want)
			}

			in := tarEntries(t, filepath.Join(filepath.Dir(calls), "project.tar"))
			for name, v := range map[string]string{
				"playwright.config.ts": "0:0", "tests/playwright/e2e/starter.spec.ts": "0:0",
				"playwright.dtx.config.ts": "0:0", "shared": "0:0 -> ../docker",
			} {
				if in[name] != v {
					t.Errorf("the project copied in has %s as %q, want %q (all: %v)", name, in[name], v, in)
				}
			}
			// No entry for the folder itself: the copy leaves /e2e the runner's.
			if _, ok := in["./"]; ok {
				t.Errorf("the project copied in has an entry for its folder, which would give /e2e to root")
			}
			for name := range in {
				if strings.Contains(name, "node_modules") || strings.HasPrefix(name, "test-results") {
					t.Errorf("the project copied in holds %s", name)
				}
			}

			art := filepath.Join(root, ArtifactsDir)
			for _, f := range []string{"report/index.html", "junit.xml", "artifacts/starter-fails/trace.zip"} {
				if data, err := os.ReadFile(filepath.Join(art, f)); err != nil || string(data) != "the runner's.\n" {
					t.Errorf("%s in test-results/e2e: %q, %v", f, data, err)
				}
			}
			for _, f := range []string{"passwd", "up", "report/same.xml", "old.png"} {
				if _, err := os.Lstat(filepath.Join(art, f)); err == nil {
					t.Errorf("test-results/e2e/%s is there", f)
				}
			}
			for _, w := range []string{
				"dropped 3 link(s) or special file(s) the runner left in its results (never followed): passwd, up, report/same.xml",
				"the HTML report: test-results/e2e/report/index.html (npx playwright show-report test-results/e2e/report)",
			} {
				if !strings.Contains(log.String(), w) {
					t.Errorf("the output lacks %q:\n%s", w, log)
				}
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
	if _, err := os.Stat(filepath.Join(root, "test-results/e2e/report/index.html")); err != nil {
		t.Errorf("no report in test-results/e2e: %v", err)
	}
	if got, want := strings.Join(ran(t, calls), " "), "build up ps create cp start cp rm down"; got != want {
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
	if got, want := strings.Join(ran(t, calls), " "), "build up down"; got != want {
		t.Fatalf("ran %s, want %s", got, want)
	}
}

// A runner image the engine neither has nor can pull stops the run before
// the stack starts, in one line.
func TestRunUnknownRunnerImage(t *testing.T) {
	calls := runnerDocker(t, "99", false)
	err, log := runE2E(e2eProject(t), false, "E2E_RUNNER_IMAGE=cypress/includd:15.3.0")
	want := `E2E_RUNNER_IMAGE="cypress/includd:15.3.0": the engine does not have this image and cannot pull it: check the name, build it first, or unset E2E_RUNNER_IMAGE for the default runner (docker pull cypress/includd:15.3.0: exit status 1)`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n  %v\nwant:\n  %s\n%s", err, want, log)
	}
	if got := strings.Join(ran(t, calls), " "); got != "pull" {
		t.Fatalf("ran %s, want only the pull", got)
	}
}
