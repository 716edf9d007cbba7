package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// browserSpecs is the starter's spec folder for the Chromium runner.
const browserSpecs = "frontend/tests/browser"

// TestBrowser runs test:e2e as the README says, with the Chromium runner of
// test/browser (Cypress's image cannot be pulled here) against the
// starters: a passing run, a run with failing specs written into the copy,
// and Ctrl-C in the middle of a run. Each leaves no container or network of
// the test stack; the first two leave the screenshots in test-results/e2e/.
func TestBrowser(t *testing.T) {
	s := newSite(t)
	image := buildBrowserRunner(t, s)
	vars := func() []string {
		return []string{"E2E_RUNNER_IMAGE=" + image, "E2E_SPECS=" + browserSpecs,
			"HTTP_PORT=" + freePort(t), "HTTPS_PORT=" + freePort(t)}
	}
	project := s.prefix + "-test"
	artifacts := filepath.Join(s.root, "test-results/e2e")

	t.Run("the starter page passes", func(t *testing.T) {
		s := s.with(t)
		out := s.mustMage(vars(), "test:e2e")
		for _, want := range []string{"ok   starter.spec.mjs", "runner: 1 passed, 0 failed", "the browser tests passed; screenshots and reports are in test-results/e2e/"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		// The runner reached the stack by name on its network, not a host port.
		if !strings.Contains(out, "--network "+project+"_test-network") || !strings.Contains(out, "against https://nginx") {
			t.Errorf("the runner did not run on %s_test-network against https://nginx:\n%s", project, out)
		}
		checkScreenshot(t, filepath.Join(artifacts, "screenshots/starter.png"))
		report := readReport(t, filepath.Join(artifacts, "report.json"))
		if len(report.Specs) != 1 || !report.Specs[0].Passed {
			t.Errorf("report.json: %+v", report)
		}
		checkNothingLeft(t, project)
	})

	t.Run("failing specs fail it with the runner's status", func(t *testing.T) {
		s := s.with(t)
		// Two specs expecting text the page does not have: the runner exits
		// with the number of failed specs, 2, which is not mage's own 1.
		for _, name := range []string{"missing-text", "missing-element"} {
			spec := `export default async function ({ page, expectText }) {
  await page.goto("/");
  await expectText("` + map[string]string{"missing-text": "h1", "missing-element": "#no-such-element"}[name] + `", "text that is not on the page", 2000);
}
`
			if err := os.WriteFile(filepath.Join(s.root, browserSpecs, name+".spec.mjs"), []byte(spec), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		defer func() {
			os.Remove(filepath.Join(s.root, browserSpecs, "missing-text.spec.mjs"))
			os.Remove(filepath.Join(s.root, browserSpecs, "missing-element.spec.mjs"))
		}()
		out, err := s.mage(vars(), "test:e2e")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("test:e2e: %v, want exit status 2 (the runner's)\n%s", err, out)
		}
		for _, want := range []string{
			`FAIL missing-text.spec.mjs`, `h1: want text containing "text that is not on the page", got "dtx website starter"`,
			"ok   starter.spec.mjs", "runner: 1 passed, 2 failed",
			"the browser tests failed (the runner exited 2; screenshots and reports are in test-results/e2e/)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		for _, png := range []string{"missing-text.png", "missing-element.png", "starter.png"} {
			checkScreenshot(t, filepath.Join(artifacts, "screenshots", png))
		}
		checkNothingLeft(t, project)
	})

	t.Run("Ctrl-C stops the runner and the stack", func(t *testing.T) {
		s := s.with(t)
		spec := "export default async function ({ page }) {\n  await page.goto(\"/\");\n  await page.waitForTimeout(25000);\n}\n"
		path := filepath.Join(s.root, browserSpecs, "slow.spec.mjs")
		if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		var out lockedBuffer
		cmd := s.mageCmd(t.Context(), vars(), "test:e2e")
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // as in a terminal
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 10 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		eventually(t, 4*time.Minute, "the runner started", func() error {
			select {
			case err := <-exited:
				t.Fatalf("test:e2e ended before the runner started: %v\n%s", err, out.String())
			default:
			}
			if !strings.Contains(out.String(), "spec(s) against https://nginx") {
				return errors.New("not yet")
			}
			return nil
		})
		start := time.Now()
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err == nil {
				t.Errorf("test:e2e exited 0 after Ctrl-C, want non-zero")
			}
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("test:e2e still running 30 s after Ctrl-C:\n%s", out.String())
		}
		t.Logf("test:e2e stopped %s after Ctrl-C", time.Since(start).Round(time.Millisecond))
		if !strings.Contains(out.String(), "runner: SIGINT: stopping") {
			t.Errorf("the runner did not get the Ctrl-C:\n%s", out.String())
		}
		checkNothingLeft(t, project)
	})
}

// buildBrowserRunner builds test/browser on the offline stand-in base where
// the official node image cannot be pulled (FRONTEND_BASE_IMAGE: any
// bookworm image with node), tagged under the site's registry path so that
// the site's cleanup removes it. BuildKit keeps its layer cache after that,
// so only the first run on an engine installs Chromium.
func buildBrowserRunner(t *testing.T, s *site) string {
	t.Helper()
	image := s.vars["REGISTRY"] + "/browser-runner:e2e"
	args := []string{"build", "--tag", image}
	if base := s.vars["FRONTEND_BASE_IMAGE"]; base != "" {
		args = append(args, "--build-arg", "BROWSER_BASE_IMAGE="+base)
	}
	// A machine whose egress inspects TLS trusts its proxy's CA through
	// NODE_EXTRA_CA_CERTS; npm in the build needs it too.
	if ca := os.Getenv("NODE_EXTRA_CA_CERTS"); ca != "" {
		args = append(args, "--secret", "id=npm_ca,src="+ca)
	}
	cmd := exec.Command("docker", append(args, filepath.Join(s.root, "test/browser"))...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build test/browser: %v\n%s", err, out)
	}
	t.Logf("built the Chromium runner %s in %s", image, time.Since(start).Round(time.Millisecond))
	return image
}

// checkScreenshot checks that path is a PNG image with something drawn.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("no screenshot: %v", err)
		return
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) || len(data) < 2000 {
		t.Errorf("%s is not a screenshot of a page (%d bytes)", path, len(data))
	}
}

type runnerReport struct {
	Specs []struct {
		Spec   string
		Passed bool
	}
}

func readReport(t *testing.T, path string) runnerReport {
	t.Helper()
	var r runnerReport
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &r)
	}
	if err != nil {
		t.Errorf("report: %v", err)
	}
	return r
}

// checkNothingLeft checks that no container (the runner included: it
// carries the project's label) or network of the test stack is left.
func checkNothingLeft(t *testing.T, project string) {
	t.Helper()
	if ids := containers(t, project, true); len(ids) > 0 {
		t.Errorf("containers of %s left: %v", project, ids)
	}
	if ids := networks(t, project); len(ids) > 0 {
		t.Errorf("networks of %s left: %v", project, ids)
	}
}
