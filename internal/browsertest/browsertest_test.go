package browsertest

import (
	"errors"
	"fmt"
	"os"
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

func specsRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{DefaultSpecs, "frontend/tests/browser"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestFromEnv(t *testing.T) {
	root := specsRoot(t)
	cases := []struct {
		name string
		env  env
		want Config
	}{
		{"defaults", env{}, Config{Image: DefaultImage, Specs: DefaultSpecs}},
		{"empty values are the defaults", env{ImageVar: " ", CommandVar: "", SpecsVar: "", KeepVar: ""}, Config{Image: DefaultImage, Specs: DefaultSpecs}},
		{"the Chromium runner", env{ImageVar: "127.0.0.1:5000/dtx/browser-runner:1", SpecsVar: "frontend/tests/browser/", KeepVar: "1"},
			Config{Image: "127.0.0.1:5000/dtx/browser-runner:1", Specs: "frontend/tests/browser", Keep: true}},
		{"a command", env{CommandVar: "cypress run --browser chrome"}, Config{Image: DefaultImage, Specs: DefaultSpecs, Command: []string{"cypress", "run", "--browser", "chrome"}}},
		{"an absolute specs folder", env{SpecsVar: filepath.Join(root, DefaultSpecs)}, Config{Image: DefaultImage, Specs: filepath.Join(root, DefaultSpecs)}},
		{"KEEP=0", env{KeepVar: "0"}, Config{Image: DefaultImage, Specs: DefaultSpecs}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := FromEnv(c.env, root, fields)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", c.want) {
				t.Fatalf("got  %#v\nwant %#v", got, c.want)
			}
		})
	}
}

// Bad input is one line naming the variable, its value and the fix.
func TestFromEnvRefuses(t *testing.T) {
	root := specsRoot(t)
	cases := []struct {
		name string
		env  env
		want string
	}{
		{"image with upper case", env{ImageVar: "Cypress/Included:15"}, `E2E_RUNNER_IMAGE="Cypress/Included:15" (from the process environment) is not a valid image reference`},
		{"image with a space", env{ImageVar: "cypress included"}, `E2E_RUNNER_IMAGE="cypress included" (from the process environment) is not a valid image reference`},
		{"image is a flag", env{ImageVar: "--privileged"}, `E2E_RUNNER_IMAGE="--privileged" (from the process environment) starts with '-'`},
		{"image with a bad tag", env{ImageVar: "cypress/included:1.2.3+b"}, `unset it for ` + DefaultImage},
		{"specs folder missing", env{SpecsVar: "frontend/tests/e2e"}, `E2E_SPECS="frontend/tests/e2e" (from the process environment): the specs folder is missing: create it, or set E2E_SPECS`},
		{"default specs folder missing", nil, `E2E_SPECS="frontend/tests/cypress" (from the process environment): the specs folder is missing`},
		{"specs is a file", env{SpecsVar: "notes.txt"}, `E2E_SPECS="notes.txt" (from the process environment): is a file, not a folder`},
		{"command with an open quote", env{CommandVar: `cypress run --spec "a`}, `E2E_RUNNER_COMMAND (from the process environment): the command has an unterminated " quote`},
		{"command with a newline", env{CommandVar: "cypress\nrun"}, `E2E_RUNNER_COMMAND (from the process environment) contains a control character (U+000A)`},
		{"KEEP neither 1 nor 0", env{KeepVar: "please"}, `KEEP="please" from the process environment: use 1 or 0`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := root
			if c.env == nil {
				r = t.TempDir() // no specs folder at all
			}
			_, err := FromEnv(c.env, r, fields)
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
	c := Config{Image: "dtx-browser-runner", Specs: "frontend/tests/browser", Project: "dtx-test", Network: "dtx-test_test-network"}
	withCommand := c
	withCommand.Image, withCommand.Command = DefaultImage, []string{"cypress", "run", "--browser", "chrome"}
	cases := []struct {
		name string
		cmd  runner.Command
		want string
		dir  string
	}{
		{"has the image", c.HasImage(), "docker image inspect --format '{{.Id}}' dtx-browser-runner", ""},
		{"pull", c.Pull(), "docker pull dtx-browser-runner", ""},
		{"leftover", c.Leftover(), "docker ps --all --quiet --filter 'name=^/dtx-test-e2e-runner$'", ""},
		{"create", c.Create(), "docker create --name dtx-test-e2e-runner --label com.docker.compose.project=dtx-test --network dtx-test_test-network --init --workdir /e2e --env E2E_BASE_URL=https://nginx --env E2E_RESULTS=results dtx-browser-runner", ""},
		{"create with a command", withCommand.Create(), "docker create --name dtx-test-e2e-runner --label com.docker.compose.project=dtx-test --network dtx-test_test-network --init --workdir /e2e --env E2E_BASE_URL=https://nginx --env E2E_RESULTS=results cypress/included:15.3.0 cypress run --browser chrome", ""},
		{"copy the specs", c.CopySpecs("/site"), "docker cp frontend/tests/browser/. dtx-test-e2e-runner:/e2e", "/site"},
		{"start", c.Start(), "docker start --attach dtx-test-e2e-runner", ""},
		{"copy the results", c.CopyResults("/site"), "docker cp dtx-test-e2e-runner:/e2e/results test-results/e2e", "/site"},
		{"remove", c.Remove(), "docker rm --force dtx-test-e2e-runner", ""},
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
// where the screenshots are.
func TestFailedKeepsTheRunnersStatus(t *testing.T) {
	exit := &runner.ExitError{Command: "docker start --attach dtx-test-e2e-runner", Code: 3}
	err := Failed(exit, true)
	var got *runner.ExitError
	if !errors.As(err, &got) || got.ExitStatus() != 3 {
		t.Fatalf("%v does not carry exit status 3", err)
	}
	want := "the browser tests failed (the runner exited 3; screenshots and reports are in test-results/e2e/): docker start --attach dtx-test-e2e-runner: exit status 3"
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

// The hint of a failed pull fits the image: the default cannot be unset.
func TestPullFailed(t *testing.T) {
	pull := &runner.ExitError{Command: "docker pull x", Code: 1}
	cases := []struct {
		name, image, want string
	}{
		{"the default", DefaultImage, `E2E_RUNNER_IMAGE="cypress/included:15.3.0" (the default): the engine does not have this image and cannot pull it: let the engine reach its registry, or set E2E_RUNNER_IMAGE to a runner it has (test/browser builds one) (docker pull x: exit status 1)`},
		{"another image", "cypress/includd:15", `E2E_RUNNER_IMAGE="cypress/includd:15": the engine does not have this image and cannot pull it: check the name, build it first, or unset E2E_RUNNER_IMAGE for cypress/included:15.3.0 (docker pull x: exit status 1)`},
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
