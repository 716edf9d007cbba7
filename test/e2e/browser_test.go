package e2e

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// playwrightSpecs is where the starter's Playwright specs are, laid out as
// the website's: frontend/playwright.config.ts, tests/playwright/e2e/*.spec.ts.
const playwrightSpecs = "frontend/tests/playwright/e2e"

// starterTests are the tests of the starter's Playwright specs, by title.
var starterTests = []string{
	"loads over HTTPS and shows what the backend says through nginx",
	"the API answers through nginx, and counts visits in redis",
}

// TestBrowser runs test:e2e as the README says on the starter's Playwright
// project, unchanged (Cypress's image cannot be pulled here): test:e2e
// builds the Playwright runner (test/browser, on BROWSER_BASE_IMAGE), runs
// two shards that together run every test once, a failing spec, and Ctrl-C
// in the middle of a run. The shards share one test stack (KEEP=1); the
// failing run and the interrupted one each leave no container or network
// of it.
func TestBrowser(t *testing.T) {
	s := newSite(t)
	// The frontend holds cypress.config.js too: E2E_FRAMEWORK chooses.
	// Fixed ports: the kept stack is the same stack for every run.
	vars := []string{"E2E_FRAMEWORK=playwright", "HTTP_PORT=" + freePort(t), "HTTPS_PORT=" + freePort(t)}
	project := s.prefix + "-test"
	artifacts := filepath.Join(s.root, "test-results/e2e")
	runner := buildRunner(t, s)

	t.Run("two shards run every test once", func(t *testing.T) {
		s := s.with(t)
		seen := map[string]int{}
		for i, shard := range []string{"1/2", "2/2"} {
			start := time.Now()
			out := s.mustMage(append(vars, "KEEP=1"), "test:e2e", "-shard="+shard)
			t.Logf("shard %s: %s", shard, time.Since(start).Round(time.Second))
			for _, want := range []string{
				"test:e2e: playwright runs frontend/playwright.config.ts with " + runner + " (frontend also holds cypress.config.js: E2E_FRAMEWORK=cypress runs it)",
				"docker compose -f test/browser/compose.yaml build",
				// The runner reached the stack by name on its network, not a
				// host port: the config's baseURL, replaced.
				"--network " + project + "_test-network",
				"test:e2e: playwright.config.ts with baseURL https://nginx:8443 (the config says https://localhost)",
				"--shard=" + shard,
				"1 passed",
				"the HTML report: test-results/e2e/report/index.html",
				"the browser tests passed; reports are in test-results/e2e/",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("shard %s: the output lacks %q:\n%s", shard, want, out)
				}
			}
			for _, c := range junitCases(t, filepath.Join(artifacts, "junit.xml")) {
				if c.Failure != nil {
					t.Errorf("shard %s: %s failed", shard, c.Name)
				}
				for _, title := range starterTests {
					if strings.Contains(c.Name, title) {
						seen[title]++
					}
				}
				if !containsAny(c.Name, starterTests) {
					t.Errorf("shard %s ran %q, not a test of the starter's", shard, c.Name)
				}
			}
			checkFile(t, filepath.Join(artifacts, "report/index.html"), "<!DOCTYPE html>")
			// The blob report is what merge-reports joins into one report.
			checkFile(t, filepath.Join(artifacts, "blob-report", "report-"+string(rune('1'+i))+".zip"), "PK")
		}
		for _, title := range starterTests {
			if seen[title] != 1 {
				t.Errorf("the two shards ran %q %d times, want once", title, seen[title])
			}
		}
		if ids := containers(t, project, false); len(ids) == 0 {
			t.Errorf("KEEP=1 left no container of %s running", project)
		}
	})

	t.Run("a failing spec fails the run with its name, a trace and a screenshot", func(t *testing.T) {
		s := s.with(t)
		spec := filepath.Join(s.root, playwrightSpecs, "failing.spec.ts")
		write(t, spec, `import { test, expect } from '@playwright/test';

test('expects text that is not on the page', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('h1')).toHaveText('text that is not on the page', { timeout: 2000 });
});
`)
		defer os.Remove(spec)
		// -grep runs that one test, on the stack the shards left up; without
		// KEEP=1 the stack then comes down.
		out, err := s.mage(vars, "test:e2e", "-grep=not on the page")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("test:e2e: %v, want exit status 1 (Playwright's)\n%s", err, out)
		}
		for _, want := range []string{
			"failing.spec.ts", "expects text that is not on the page", "1 failed",
			"the HTML report: test-results/e2e/report/index.html",
			"the browser tests failed (the runner exited 1; reports, traces and screenshots are in test-results/e2e/)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		cases := junitCases(t, filepath.Join(artifacts, "junit.xml"))
		if len(cases) != 1 || cases[0].Failure == nil || !strings.Contains(cases[0].Name, "expects text that is not on the page") {
			t.Errorf("junit.xml: %+v, want the one failing test", cases)
		}
		found := map[string]string{}
		filepath.WalkDir(filepath.Join(artifacts, "artifacts"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				for _, kind := range []string{"trace.zip", ".png", ".webm"} {
					if strings.HasSuffix(d.Name(), kind) {
						found[kind] = p
					}
				}
			}
			return nil
		})
		checkFile(t, found["trace.zip"], "PK")
		checkFile(t, found[".png"], "\x89PNG\r\n\x1a\n")
		// A video is Playwright's recorder with the runner's ffmpeg.
		checkFile(t, found[".webm"], "\x1a\x45\xdf\xa3")
		checkNothingLeft(t, project)
	})

	t.Run("Ctrl-C stops the runner and the stack", func(t *testing.T) {
		s := s.with(t)
		spec := filepath.Join(s.root, playwrightSpecs, "slow.spec.ts")
		write(t, spec, `import { test } from '@playwright/test';

test('waits', async ({ page }) => {
  test.setTimeout(180_000);
  await page.goto('/');
  console.log('the slow spec is running');
  await page.waitForTimeout(150_000);
});
`)
		defer os.Remove(spec)
		var out lockedBuffer
		// -spec, from the project root, runs that file only.
		cmd := s.mageCmd(t.Context(), vars, "test:e2e", "-spec="+playwrightSpecs+"/slow.spec.ts")
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // as in a terminal
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 10 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		eventually(t, 8*time.Minute, "the slow spec runs", func() error {
			select {
			case err := <-exited:
				t.Fatalf("test:e2e ended before the slow spec ran: %v\n%s", err, out.String())
			default:
			}
			if !strings.Contains(out.String(), "the slow spec is running") {
				return errors.New("not yet")
			}
			return nil
		})
		if !strings.Contains(out.String(), "tests/playwright/e2e/slow.spec.ts") || strings.Contains(out.String(), "starter.spec.ts") {
			t.Errorf("-spec did not run slow.spec.ts alone:\n%s", out.String())
		}
		start := time.Now()
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err == nil {
				t.Errorf("test:e2e exited 0 after Ctrl-C, want non-zero")
			}
		case <-time.After(90 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("test:e2e still running 90 s after Ctrl-C:\n%s", out.String())
		}
		t.Logf("test:e2e stopped %s after Ctrl-C", time.Since(start).Round(time.Millisecond))
		checkNothingLeft(t, project)
	})
}

// buildRunner builds the Playwright runner with the one command the docs
// give (test:e2e runs the same build, then from the engine's build cache),
// on the site's REGISTRY and BROWSER_BASE_IMAGE (.ci/engine.sh's env.sh sets
// the offline stand-in where debian:bookworm-slim cannot be pulled). A cold
// build installs Chromium and compiles ffmpeg: minutes, once per engine.
func buildRunner(t *testing.T, s *site) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "compose", "-f", "test/browser/compose.yaml", "build")
	cmd.Dir, cmd.Env = s.root, s.ts.Environ()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker compose -f test/browser/compose.yaml build: %v\n%s", err, out)
	}
	image := s.vars["REGISTRY"] + "/playwright-runner:latest"
	t.Logf("built the Playwright runner %s (BROWSER_BASE_IMAGE=%q) in %s", image, s.vars["BROWSER_BASE_IMAGE"], time.Since(start).Round(time.Second))
	return image
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkFile checks that path is a file that starts with magic (its kind:
// a PNG, a zip, a WebM, an HTML page) and has more than the magic.
func checkFile(t *testing.T, path, magic string) {
	t.Helper()
	if path == "" {
		t.Errorf("no %q file", magic)
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	// An HTML page may start with blank lines (Playwright's report does).
	if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(magic)) || len(data) < 100 {
		t.Errorf("%s is not what it should be (%d bytes: %q…)", path, len(data), data[:min(len(data), 16)])
	}
}

type junitCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Failure   *struct {
		Message string `xml:"message,attr"`
	} `xml:"failure"`
}

// junitCases reads the test cases of the runner's JUnit report.
func junitCases(t *testing.T, path string) []junitCase {
	t.Helper()
	var report struct {
		Suites []struct {
			Cases []junitCase `xml:"testcase"`
		} `xml:"testsuite"`
	}
	data, err := os.ReadFile(path)
	if err == nil {
		err = xml.Unmarshal(data, &report)
	}
	if err != nil {
		t.Errorf("junit.xml: %v", err)
	}
	var cases []junitCase
	for _, s := range report.Suites {
		cases = append(cases, s.Cases...)
	}
	return cases
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
