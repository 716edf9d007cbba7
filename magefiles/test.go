//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Test runs the website's tests against its stacks.
type Test mg.Namespace

// E2e runs the browser tests in a runner container against the test stack, then removes the stack.
//
// Builds the dev images, starts the test stack (waiting until healthy),
// creates the runner container on the stack's network (it reaches the site
// as https://nginx), copies the specs folder into it (/e2e), runs it with
// its output here, copies its results (/e2e/results: screenshots, videos,
// reports) to test-results/e2e/, removes it and the stack, and exits with
// the runner's exit status. Ctrl-C stops the runner and the stack.
//
// Variables, from docker/.env.test, docker/.env.test.local, then the
// process: E2E_RUNNER_IMAGE (default cypress/included:15.3.0),
// E2E_RUNNER_COMMAND (the container's command, split like a shell; default
// the image's own), E2E_SPECS (default frontend/tests/cypress), KEEP=1
// (leave the stack running), and those of dev:test; COMPOSE_PROJECT_PREFIX
// (project dtx-test), DOCKER_HOST, DRY_RUN=1.
func (Test) E2e(ctx context.Context) error {
	// E2e, not E2E: mage lists a method as its name with the first letter
	// lowered, and "test:e2E" is not what users type.
	return do(func(s *session.Session) error { return targets.E2E(ctx, s) })
}
