// Package browsertest plans and runs test:e2e: the website's browser tests,
// run by a runner image as a one-off container on the test stack's network.
// This file reads the runner's settings, checks them, and returns the docker
// commands of the run and its decisions; run.go runs them (Run).
//
// The runner container is created, given the specs, started attached and,
// after it exited, its results are copied out and it is removed: docker
// create, cp, start --attach, cp, rm. Copying (rather than bind-mounting the
// specs and the results folder) works with any engine, a remote DOCKER_HOST
// included, leaves no root-owned files in the checkout (docker cp writes as
// the user running it), and keeps the results of a runner that failed.
package browsertest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/validate"
)

// The contract between test:e2e and a runner image.
const (
	// DefaultImage is Cypress's official image, which runs `cypress run` in
	// its working directory. Pinned: a new Cypress is a change to review.
	DefaultImage = "cypress/included:15.3.0"
	// DefaultSpecs is the folder copied into the runner: a Cypress project
	// (cypress.config.js and e2e/*.cy.js).
	DefaultSpecs = "frontend/tests/cypress"
	// Workdir is where the specs folder is copied in the container, and the
	// runner's working directory.
	Workdir = "/e2e"
	// ResultsDir is where the runner writes its screenshots, videos and
	// reports, relative to Workdir.
	ResultsDir = "results"
	// ArtifactsDir is where test:e2e copies ResultsDir, relative to the
	// project root (git-ignored).
	ArtifactsDir = "test-results/e2e"
	// Service is the service of the test stack the runner opens: nginx,
	// which terminates TLS in front of the frontend and the backend.
	Service = "nginx"
	// BaseURL is the site as the runner reaches it: by the service's name on
	// the stack's network, never through the host's ports.
	BaseURL = "https://" + Service
)

// Variables read by FromEnv, with their defaults, for messages and help.
const (
	ImageVar   = "E2E_RUNNER_IMAGE"
	CommandVar = "E2E_RUNNER_COMMAND"
	SpecsVar   = "E2E_SPECS"
	KeepVar    = "KEEP"
)

// Config is one run of the browser tests.
type Config struct {
	Image   string   // the runner image
	Command []string // the container's command (after the image's entrypoint); empty keeps the image's
	Specs   string   // the specs folder, relative to the project root (or absolute)
	Keep    bool     // leave the test stack running afterwards

	// Project is the test stack's compose project, Network the network its
	// nginx is on; both come from the loaded compose file.
	Project string
	Network string
}

// Source reads one variable and says where its value comes from.
type Source interface {
	Get(key string) (string, bool)
	Source(key string) string
}

// FromEnv reads E2E_RUNNER_IMAGE, E2E_RUNNER_COMMAND (already split into
// words by split), E2E_SPECS and KEEP, applies the defaults and checks each:
// an error is one line naming the variable, where it comes from and the fix.
// root is the project root, where a relative specs folder is looked up.
func FromEnv(env Source, root string, split func(string) ([]string, error)) (Config, error) {
	c := Config{Image: DefaultImage, Specs: DefaultSpecs}
	if v, ok := env.Get(ImageVar); ok && strings.TrimSpace(v) != "" {
		c.Image = strings.TrimSpace(v)
		if err := validate.ImageRef(c.Image); err != nil {
			return c, fmt.Errorf("%s=%q (from %s) %w; unset it for %s", ImageVar, c.Image, env.Source(ImageVar), err, DefaultImage)
		}
	}
	if v, ok := env.Get(CommandVar); ok && strings.TrimSpace(v) != "" {
		if err := validate.Plain(v); err != nil {
			return c, fmt.Errorf("%s (from %s) %w", CommandVar, env.Source(CommandVar), err)
		}
		words, err := split(v)
		if err != nil {
			return c, fmt.Errorf("%s (from %s): %w", CommandVar, env.Source(CommandVar), err)
		}
		c.Command = words
	}
	if v, ok := env.Get(SpecsVar); ok && strings.TrimSpace(v) != "" {
		c.Specs = filepath.Clean(strings.TrimSpace(v))
	}
	if err := checkSpecs(root, c.Specs); err != nil {
		return c, fmt.Errorf("%s=%q (from %s): %w", SpecsVar, c.Specs, env.Source(SpecsVar), err)
	}
	keep, err := flag(env, KeepVar)
	if err != nil {
		return c, err
	}
	c.Keep = keep
	return c, nil
}

func checkSpecs(root, specs string) error {
	if err := validate.Plain(specs); err != nil {
		return err
	}
	path := specs
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, specs)
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("the specs folder is missing: create it, or set %s to the folder of the end-to-end specs (default %s)", SpecsVar, DefaultSpecs)
	case err != nil:
		return fmt.Errorf("the specs folder cannot be read: %w", err)
	case !info.IsDir():
		return fmt.Errorf("is a file, not a folder: set %s to the folder the runner runs in (default %s)", SpecsVar, DefaultSpecs)
	}
	return nil
}

func flag(env Source, key string) (bool, error) {
	v, _ := env.Get(key)
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q from %s: use 1 or 0", key, v, env.Source(key))
}

// ContainerName is the runner container's name: one per test stack, so that
// one left by a killed run is found and removed before the next.
func (c Config) ContainerName() string { return c.Project + "-e2e-runner" }

func docker(args ...string) runner.Command { return runner.Command{Name: "docker", Args: args} }

// Leftover lists the runner container of an earlier run that was killed
// before it removed it (a read-only probe: it prints its ID, or nothing).
func (c Config) Leftover() runner.Command {
	return docker("ps", "--all", "--quiet", "--filter", "name=^/"+c.ContainerName()+"$")
}

// HasImage asks whether the engine has the runner image (a read-only
// probe: it fails when the engine does not).
func (c Config) HasImage() runner.Command {
	return docker("image", "inspect", "--format", "{{.Id}}", c.Image)
}

// Pull pulls the runner image. It runs before anything starts, so that a
// misspelt or unreachable image stops the run before the build and the
// stack, not after them.
func (c Config) Pull() runner.Command { return docker("pull", c.Image) }

// PullFailed is the error of a runner image the engine neither has nor can
// pull; err is the pull's failure.
func (c Config) PullFailed(err error) error {
	if c.Image == DefaultImage {
		return fmt.Errorf("%s=%q (the default): the engine does not have this image and cannot pull it: let the engine reach its registry, or set %s to a runner it has (test/browser builds one) (%w)", ImageVar, c.Image, ImageVar, err)
	}
	return fmt.Errorf("%s=%q: the engine does not have this image and cannot pull it: check the name, build it first, or unset %s for %s (%w)", ImageVar, c.Image, ImageVar, DefaultImage, err)
}

// Create creates the runner container on the stack's network. It carries
// the stack's compose project label, so that what lists the stack's
// containers lists it too. --init gives it an init that passes Ctrl-C on
// (a runner as PID 1 without a handler would ignore SIGINT).
func (c Config) Create() runner.Command {
	args := []string{"create", "--name", c.ContainerName(),
		"--label", "com.docker.compose.project=" + c.Project,
		"--network", c.Network, "--init", "--workdir", Workdir,
		"--env", "E2E_BASE_URL=" + BaseURL,
		"--env", "E2E_RESULTS=" + ResultsDir,
		c.Image}
	return docker(append(args, c.Command...)...)
}

// CopySpecs copies the specs folder's content into Workdir.
func (c Config) CopySpecs(root string) runner.Command {
	cmd := docker("cp", strings.TrimSuffix(c.Specs, "/")+"/.", c.ContainerName()+":"+Workdir)
	cmd.Dir = root
	return cmd
}

// Start runs the runner attached: its output streams to ours, Ctrl-C is
// passed on to it, and docker exits with its exit status.
func (c Config) Start() runner.Command {
	return docker("start", "--attach", c.ContainerName())
}

// CopyResults copies the runner's ResultsDir to ArtifactsDir, which must not
// exist (docker cp then creates it with the folder's content).
func (c Config) CopyResults(root string) runner.Command {
	cmd := docker("cp", c.ContainerName()+":"+Workdir+"/"+ResultsDir, ArtifactsDir)
	cmd.Dir = root
	return cmd
}

// Remove removes the runner container, stopping it if it still runs.
func (c Config) Remove() runner.Command {
	return docker("rm", "--force", c.ContainerName())
}

// Teardown says whether the test stack comes down after the run: always,
// unless KEEP=1 asked to keep it for debugging; an interrupted run comes
// down even then (Ctrl-C stops the runner and the stack).
func (c Config) Teardown(interrupted bool) bool { return interrupted || !c.Keep }

// CopyAfter says whether the results are copied after the runner ended with
// err: whether it passed or failed (a failure's screenshots matter most),
// not when it was interrupted or never started.
func CopyAfter(err error, interrupted bool) bool {
	if interrupted {
		return false
	}
	var exit *runner.ExitError
	return err == nil || errors.As(err, &exit)
}

// Failed is the error test:e2e returns when the runner exited non-zero: it
// wraps the runner's ExitError, so that the tool exits with its status.
func Failed(err error, artifacts bool) error {
	var exit *runner.ExitError
	if !errors.As(err, &exit) {
		return err
	}
	where := "it left no results"
	if artifacts {
		where = "screenshots and reports are in " + ArtifactsDir + "/"
	}
	return fmt.Errorf("the browser tests failed (the runner exited %d; %s): %w", exit.Code, where, err)
}
