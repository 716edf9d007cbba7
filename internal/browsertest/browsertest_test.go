package browsertest

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// env is a Source over a map; every value comes from "the process environment".
type env map[string]string

func (e env) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }
func (e env) Source(string) string        { return "the process environment" }

// fields splits on spaces: FromEnv takes the shell-like splitter as a seam.
func fields(s string) ([]string, error) {
	if strings.Contains(s, `"`) {
		return nil, errors.New(`the command has an unterminated " quote`)
	}
	return strings.Fields(s), nil
}

const registry = "127.0.0.1:5000/dtx"

// projects is a root with a frontend of each kind: Playwright, Cypress,
// both, and neither.
func projects(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	put(t, root, map[string]string{
		"frontend/playwright.config.ts":     "export default {};\n",
		"pw/playwright.config.mjs":          "export default {};\n",
		"cy/cypress.config.js":              "module.exports = {};\n",
		"both/playwright.config.ts":         "export default {};\n",
		"both/cypress.config.ts":            "export default {};\n",
		"neither/vite.config.ts":            "export default {};\n",
		"notes.txt":                         "",
		"odd/playwright.config.ts/keep.txt": "a folder, not a config\n",
	})
	return root
}

func TestFromEnv(t *testing.T) {
	root := projects(t)
	runnerImage := registry + "/playwright-runner:latest"
	pwCommand := []string{"playwright", "test"}
	cases := []struct {
		name string
		env  env
		opts Options
		want Config
	}{
		{"defaults: the frontend's Playwright project, the built runner", env{},
			Options{}, Config{Framework: Playwright, Dir: "frontend", ConfigFile: "playwright.config.ts", Image: runnerImage, Build: true, Registry: registry, Command: pwCommand}},
		{"empty values are the defaults", env{DirVar: " ", ImageVar: "", CommandVar: " ", ShardVar: "", KeepVar: ""},
			Options{}, Config{Framework: Playwright, Dir: "frontend", ConfigFile: "playwright.config.ts", Image: runnerImage, Build: true, Registry: registry, Command: pwCommand}},
		{"a Cypress project: Cypress's image, its own command", env{DirVar: "cy/"},
			Options{}, Config{Framework: Cypress, Dir: "cy", ConfigFile: "cypress.config.js", Image: CypressImage}},
		{"both: the variable decides, Cypress by default", env{DirVar: "both"},
			Options{}, Config{Framework: Cypress, Dir: "both", ConfigFile: "cypress.config.ts", Other: "playwright.config.ts", Image: CypressImage}},
		{"both: the variable decides", env{DirVar: "both", FrameworkVar: "Cypress"},
			Options{}, Config{Framework: Cypress, Dir: "both", ConfigFile: "cypress.config.ts", Other: "playwright.config.ts", Image: CypressImage}},
		{"both, Playwright, on a base image of one's own", env{DirVar: "both", FrameworkVar: "playwright", BaseImageVar: "dtx-base:bookworm"},
			Options{}, Config{Framework: Playwright, Dir: "both", ConfigFile: "playwright.config.ts", Other: "cypress.config.ts", Image: runnerImage, Build: true, Registry: registry, BaseImage: "dtx-base:bookworm", Command: pwCommand}},
		{"an image and a command of one's own", env{DirVar: "pw", ImageVar: "mcr.microsoft.com/playwright:v1.61.1-noble", CommandVar: "npx playwright test"},
			Options{}, Config{Framework: Playwright, Dir: "pw", ConfigFile: "playwright.config.mjs", Image: "mcr.microsoft.com/playwright:v1.61.1-noble", Command: []string{"npx", "playwright", "test"}}},
		{"shard, grep and specs from the variables; KEEP; CI passed on", env{ShardVar: "2/4", GrepVar: "@smoke", SpecVar: "tests/a.spec.ts, frontend/tests/b.spec.ts", KeepVar: "1", "CI": "true"},
			Options{}, Config{Framework: Playwright, Dir: "frontend", ConfigFile: "playwright.config.ts", Image: runnerImage, Build: true, Registry: registry, Command: pwCommand,
				Shard: "2/4", Grep: "@smoke", Specs: []string{"tests/a.spec.ts", "tests/b.spec.ts"}, Keep: true, CI: "true"}},
		{"options win over the variables", env{ShardVar: "2/4", GrepVar: "@smoke"},
			Options{Shard: "1/2", Grep: "home page", Spec: "tests/playwright/e2e/home.spec.ts:12"}, Config{Framework: Playwright, Dir: "frontend", ConfigFile: "playwright.config.ts", Image: runnerImage, Build: true, Registry: registry, Command: pwCommand,
				Shard: "1/2", Grep: "home page", Specs: []string{"tests/playwright/e2e/home.spec.ts:12"}}},
		{"Cypress takes a spec", env{DirVar: "cy"},
			Options{Spec: "cypress/e2e/home.cy.js"}, Config{Framework: Cypress, Dir: "cy", ConfigFile: "cypress.config.js", Image: CypressImage, Specs: []string{"cypress/e2e/home.cy.js"}}},
		{"an absolute project folder", env{DirVar: filepath.Join(root, "cy")},
			Options{}, Config{Framework: Cypress, Dir: filepath.Join(root, "cy"), ConfigFile: "cypress.config.js", Image: CypressImage}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := FromEnv(c.env, root, registry, c.opts, fields)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", c.want) {
				t.Fatalf("got  %#v\nwant %#v", got, c.want)
			}
		})
	}
}

// Bad input is one line naming the variable or option, its value and the fix.
func TestFromEnvRefuses(t *testing.T) {
	root := projects(t)
	cases := []struct {
		name string
		env  env
		opts Options
		want string
	}{
		{"neither config", env{DirVar: "neither"}, Options{},
			`neither holds no playwright.config.ts nor cypress.config.js: add the config of the website's browser tests there (see docs/browser-tests.md), or set E2E_DIR to the folder that holds it`},
		{"a folder named like a config is none", env{DirVar: "odd"}, Options{}, `odd holds no playwright.config.ts nor cypress.config.js`},
		{"an unknown framework", env{FrameworkVar: "selenium"}, Options{}, `E2E_FRAMEWORK="selenium" (from the process environment): use playwright or cypress`},
		{"a framework without its config", env{DirVar: "cy", FrameworkVar: "playwright"}, Options{},
			`E2E_FRAMEWORK=playwright (from the process environment), but cy holds no playwright.config.ts (or .js, .mjs…): add it there, or set E2E_DIR to the folder that does`},
		{"the folder is missing", env{DirVar: "web"}, Options{}, `E2E_DIR="web" (from the process environment): the folder is missing: set E2E_DIR to the folder that holds playwright.config.* or cypress.config.* (default frontend)`},
		{"the folder is a file", env{DirVar: "notes.txt"}, Options{}, `E2E_DIR="notes.txt" (from the process environment): is a file, not a folder`},
		{"the old specs variable", env{specsVar: "frontend/tests/browser"}, Options{}, `E2E_SPECS="frontend/tests/browser" (from the process environment): test:e2e no longer copies a specs folder but the project that holds playwright.config.* or cypress.config.*: remove E2E_SPECS`},
		{"image with upper case", env{ImageVar: "Cypress/Included:15"}, Options{}, `E2E_RUNNER_IMAGE="Cypress/Included:15" (from the process environment) is not a valid image reference`},
		{"image is a flag", env{ImageVar: "--privileged"}, Options{}, `E2E_RUNNER_IMAGE="--privileged" (from the process environment) starts with '-'`},
		{"command with an open quote", env{CommandVar: `playwright test "a`}, Options{}, `E2E_RUNNER_COMMAND (from the process environment): the command has an unterminated " quote`},
		{"command with a newline", env{CommandVar: "playwright\ntest"}, Options{}, `E2E_RUNNER_COMMAND (from the process environment) contains a control character (U+000A)`},
		{"a shard that is no shard", env{}, Options{Shard: "1 of 4"}, `-shard="1 of 4": write the shard as N/TOTAL, e.g. 1/4`},
		{"shard zero", env{ShardVar: "0/4"}, Options{}, `E2E_SHARD="0/4" (from the process environment): write the shard as N/TOTAL`},
		{"a shard past the last", env{}, Options{Shard: "5/4"}, `-shard="5/4": shard 5 of 4 does not exist: N runs from 1 to TOTAL`},
		{"Cypress has no shards", env{DirVar: "cy"}, Options{Shard: "1/2"}, `-shard="1/2": Cypress has no sharding of its own`},
		{"Cypress has no grep", env{DirVar: "cy", GrepVar: "home"}, Options{}, `E2E_GREP="home" (from the process environment): Cypress has no grep of its own: name the spec file with -spec instead`},
		{"a spec that is a flag", env{}, Options{Spec: "--headed"}, `-spec="--headed": "--headed" starts with '-': name a spec file`},
		{"a grep with a newline", env{}, Options{Grep: "a\nb"}, `-grep="a\nb" contains a control character (U+000A)`},
		{"KEEP neither 1 nor 0", env{KeepVar: "please"}, Options{}, `KEEP="please" from the process environment: use 1 or 0`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromEnv(c.env, root, registry, c.opts, fields)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error:\n  %q\nwant one line containing:\n  %s", err, c.want)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	pw := Config{Framework: Playwright, Dir: "frontend", ConfigFile: "playwright.config.ts", Image: registry + "/playwright-runner:latest", Build: true, Registry: registry,
		BaseImage: "dtx-base:bookworm", Command: []string{"playwright", "test"}, Shard: "1/2", Grep: "home page", Specs: []string{"tests/a.spec.ts"}, CI: "true",
		Project: "dtx-test", Proxy: "nginx", Network: "dtx-test_test-network", BaseURL: "https://nginx:8443"}
	cy := Config{Framework: Cypress, Dir: "frontend", ConfigFile: "cypress.config.js", Image: CypressImage, Specs: []string{"cypress/e2e/a.cy.js", "cypress/e2e/b.cy.js"},
		Project: "dtx-test", Proxy: "nginx", Network: "dtx-test_test-network", BaseURL: "https://nginx:8443"}
	const create = "docker create --name dtx-test-e2e-runner --label com.docker.compose.project=dtx-test --network dtx-test_test-network --init --workdir /e2e --env E2E_BASE_URL=https://nginx:8443 --env E2E_RESULTS=/e2e/e2e-results "
	cases := []struct {
		name string
		cmd  runner.Command
		want string
		dir  string
	}{
		{"build the runner", pw.BuildRunner("/site"), "REGISTRY=127.0.0.1:5000/dtx BROWSER_BASE_IMAGE=dtx-base:bookworm docker compose -f test/browser/compose.yaml build", "/site"},
		{"has the image", cy.HasImage(), "docker image inspect --format '{{.Id}}' cypress/included:15.3.0", ""},
		{"pull", cy.Pull(), "docker pull cypress/included:15.3.0", ""},
		{"leftover", pw.Leftover(), "docker ps --all --quiet --filter 'name=^/dtx-test-e2e-runner$'", ""},
		{"create for Playwright", pw.Create(), create + "--env PLAYWRIGHT_BASE_URL=https://nginx:8443 --env PLAYWRIGHT_HTML_OPEN=never --env E2E_SHARD=1/2 --env CI=true " +
			"127.0.0.1:5000/dtx/playwright-runner:latest playwright test --config=playwright.dtx.config.ts --shard=1/2 '--grep=home page' tests/a.spec.ts", ""},
		{"create for Cypress", cy.Create(), create + "--env CYPRESS_BASE_URL=https://nginx:8443 --env CYPRESS_SCREENSHOTS_FOLDER=/e2e/e2e-results/screenshots --env CYPRESS_VIDEOS_FOLDER=/e2e/e2e-results/videos " +
			"cypress/included:15.3.0 --spec cypress/e2e/a.cy.js,cypress/e2e/b.cy.js", ""},
		{"copy the project", pw.CopyProject(), "docker cp - dtx-test-e2e-runner:/e2e < (frontend/ as a tar: without node_modules, .git, test-results, playwright-report, blob-report; with playwright.dtx.config.ts)", ""},
		{"start", pw.Start(), "docker start --attach dtx-test-e2e-runner", ""},
		{"copy the results", pw.CopyResults(), "docker cp dtx-test-e2e-runner:/e2e/e2e-results - > test-results/e2e/ (files and folders only: links are dropped)", ""},
		{"remove", pw.Remove(), "docker rm --force dtx-test-e2e-runner", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cmd.String(); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if tc.cmd.Dir != tc.dir {
				t.Fatalf("runs in %q, want %q", tc.cmd.Dir, tc.dir)
			}
		})
	}
}

// The site is the proxy by name, with the port only when it is not 443.
func TestSiteURL(t *testing.T) {
	for _, c := range []struct {
		proxy string
		port  uint32
		want  string
	}{{"nginx", 8443, "https://nginx:8443"}, {"edge", 443, "https://edge"}, {"caddy", 9443, "https://caddy:9443"}} {
		if got := SiteURL(c.proxy, c.port); got != c.want {
			t.Errorf("SiteURL(%q, %d) = %s, want %s", c.proxy, c.port, got, c.want)
		}
	}
}

// The line that says what runs says how to run the other framework.
func TestChosen(t *testing.T) {
	c := Config{Framework: Cypress, Dir: "frontend", ConfigFile: "cypress.config.js", Other: "playwright.config.ts", Image: CypressImage}
	want := "test:e2e: cypress runs frontend/cypress.config.js with cypress/included:15.3.0 (frontend also holds playwright.config.ts: E2E_FRAMEWORK=playwright runs it)"
	if got := c.Chosen(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	c.Other = ""
	if got := c.Chosen(); got != "test:e2e: cypress runs frontend/cypress.config.js with cypress/included:15.3.0" {
		t.Fatalf("got %s", got)
	}
}

// The wrapper is the same kind of file as the project's config.
func TestWrapperFile(t *testing.T) {
	for config, want := range map[string]string{
		"playwright.config.ts": "playwright.dtx.config.ts", "playwright.config.mts": "playwright.dtx.config.mts", "playwright.config.cts": "playwright.dtx.config.cts",
		"playwright.config.js": "playwright.dtx.config.mjs", "playwright.config.mjs": "playwright.dtx.config.mjs", "playwright.config.cjs": "playwright.dtx.config.mjs",
	} {
		if got := (Config{ConfigFile: config}).WrapperFile(); got != want {
			t.Errorf("%s: wrapper %s, want %s", config, got, want)
		}
	}
}

func TestDecisions(t *testing.T) {
	failed := &runner.ExitError{Command: "docker start --attach x", Code: 2}
	cases := []struct {
		name        string
		keep        bool
		runErr      error
		interrupted bool
		teardown    bool
		copy        bool
	}{
		{"passed", false, nil, false, true, true},
		{"failed", false, failed, false, true, true},
		{"failed, KEEP=1", true, failed, false, false, true},
		{"passed, KEEP=1", true, nil, false, false, true},
		{"interrupted", false, errors.New("stopped: context canceled"), true, true, false},
		{"interrupted, KEEP=1", true, errors.New("stopped: context canceled"), true, true, false},
		{"never started", false, errors.New("docker: not installed"), false, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := (Config{Keep: c.keep}).Teardown(c.interrupted); got != c.teardown {
				t.Errorf("Teardown = %v, want %v", got, c.teardown)
			}
			if got := CopyAfter(c.runErr, c.interrupted); got != c.copy {
				t.Errorf("CopyAfter = %v, want %v", got, c.copy)
			}
		})
	}
}

// A runner's failure keeps its exit status (mage exits with it) and says
// where the reports are.
func TestFailedKeepsTheRunnersStatus(t *testing.T) {
	exit := &runner.ExitError{Command: "docker start --attach dtx-test-e2e-runner", Code: 3}
	err := Failed(exit, true)
	var got *runner.ExitError
	if !errors.As(err, &got) || got.ExitStatus() != 3 {
		t.Fatalf("%v does not carry exit status 3", err)
	}
	want := "the browser tests failed (the runner exited 3; reports, traces and screenshots are in test-results/e2e/): docker start --attach dtx-test-e2e-runner: exit status 3"
	if err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}
	if err := Failed(exit, false); !strings.Contains(err.Error(), "it left no results") {
		t.Fatalf("without results: %v", err)
	}
	if Failed(nil, true) != nil {
		t.Fatal("a passing run is no error")
	}
	other := errors.New("docker: not installed")
	if Failed(other, false) != other {
		t.Fatal("other errors pass through unchanged")
	}
}

// The hint of a failed pull fits the image: Cypress's default cannot be unset.
func TestPullFailed(t *testing.T) {
	pull := &runner.ExitError{Command: "docker pull x", Code: 1}
	cases := []struct {
		name, image, want string
	}{
		{"Cypress's default", CypressImage, `E2E_RUNNER_IMAGE="cypress/included:15.3.0" (the default for Cypress): the engine does not have this image and cannot pull it: let the engine reach its registry, or set E2E_RUNNER_IMAGE to a Cypress image it has (docker pull x: exit status 1)`},
		{"another image", "cypress/includd:15", `E2E_RUNNER_IMAGE="cypress/includd:15": the engine does not have this image and cannot pull it: check the name, build it first, or unset E2E_RUNNER_IMAGE for the default runner (docker pull x: exit status 1)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Config{Image: c.image}.PullFailed(pull)
			if err.Error() != c.want {
				t.Fatalf("got  %s\nwant %s", err, c.want)
			}
			if !errors.Is(err, pull) {
				t.Fatal("the pull's error is not wrapped")
			}
		})
	}
}
