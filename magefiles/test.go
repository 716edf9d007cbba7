//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/browsertest"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Test runs the website's tests against its stacks.
type Test mg.Namespace

// E2e runs the website's browser tests (Playwright or Cypress) in a runner container against the test stack, then removes it (-shard=1/4, -grep=…, -spec=…).
//
// The framework is the one whose config the frontend holds:
// playwright.config.* runs Playwright Test, cypress.config.* runs Cypress,
// both: E2E_FRAMEWORK=playwright or cypress decides. Builds the dev images
// (and, for Playwright, the runner of test/browser/compose.yaml on
// BROWSER_BASE_IMAGE), starts the test stack (waiting until healthy),
// creates the runner container on the stack's network (it reaches the site
// as https://PROXY:PORT, the proxy service by name on the HTTPS port inside
// its container, https://nginx:8443 in the starter: PLAYWRIGHT_BASE_URL,
// CYPRESS_BASE_URL), copies the frontend into it (/e2e, without
// node_modules), runs it with its output
// here, copies its results (the HTML report, JUnit XML, traces,
// screenshots, videos) to test-results/e2e/, removes it and the stack, and
// exits with the runner's exit status. Ctrl-C stops the runner and the
// stack.
//
// -shard=N/TOTAL (E2E_SHARD) runs one shard of the tests, -grep=TEXT
// (E2E_GREP) the tests whose title matches, -spec=PATH[,PATH] (E2E_SPEC)
// those spec files; Playwright only, but -spec.
//
// Variables, from docker/.env.test, docker/.env.test.local, then the
// process: E2E_DIR (default frontend), E2E_FRAMEWORK, E2E_RUNNER_IMAGE
// (default: Playwright's built runner, or cypress/included:15.3.0),
// E2E_RUNNER_COMMAND (the container's command, split like a shell; default
// "playwright test", or Cypress's image's own), BROWSER_BASE_IMAGE, CI
// (passed on), KEEP=1 (leave the stack running), and those of dev:test;
// COMPOSE_PROJECT_PREFIX (project dtx-test), DOCKER_HOST, DRY_RUN=1.
func (Test) E2e(ctx context.Context, shard, grep, spec *string) error {
	// E2e, not E2E: mage lists a method as its name with the first letter
	// lowered, and "test:e2E" is not what users type.
	opts := browsertest.Options{Shard: deref(shard), Grep: deref(grep), Spec: deref(spec)}
	return do(func(s *session.Session) error { return targets.E2E(ctx, s, opts) })
}
