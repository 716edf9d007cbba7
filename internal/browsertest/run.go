package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Environment is the stack the browser tests run against.
const Environment = "test"

// teardownTimeout bounds the removal of the runner and the stack once the
// run is over; after Ctrl-C, mage itself exits 5 s later whatever runs. A
// variable so that tests can shorten it.
var teardownTimeout = 2 * time.Minute

// Run runs the browser tests against s, the test stack: it pulls the
// runner image unless the engine has it, starts the stack with start
// (healthy when it returns), runs the runner image as a one-off container
// on the stack's network against https://nginx, copies its results to
// test-results/e2e/, removes the runner and (unless KEEP=1) the stack, and
// returns the runner's failure with its exit status.
//
// start is given, not called from here, because starting a stack (its dev
// images built first, its folders and certificate prepared, up --wait and
// the explanation of a service that is not healthy) is the stack targets'
// run in internal/targets, which imports this package for test:e2e's entry
// point: calling it from here would be an import cycle.
func Run(ctx context.Context, s *session.Stack, start func(context.Context) error) (err error) {
	if _, err := s.Load(ctx); err != nil {
		return err
	}
	cfg, err := FromEnv(s.Env, s.Root, runner.SplitWords)
	if err != nil {
		return err
	}
	cfg.Project = s.Project.Name
	if cfg.Network, err = networkOf(ctx, s, Service); err != nil {
		return err
	}

	if err := ensureRunnerImage(ctx, s, cfg); err != nil {
		return err
	}

	// Teardown runs however the run ends, on a context Ctrl-C does not
	// cancel, and its own error never hides the run's. Its time counts from
	// its first step (the results' copy, or the runner's or the stack's
	// removal), not from here: the build, the start and the runner may take
	// longer than teardownTimeout themselves.
	var stopCtx context.Context
	cancel := func() {}
	defer func() { cancel() }()
	stop := func() context.Context {
		if stopCtx == nil {
			stopCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
		}
		return stopCtx
	}
	defer func() {
		if !cfg.Teardown(ctx.Err() != nil) {
			s.Say("KEEP=1: the test stack keeps running (the site is at %s); ./dtx stack:down test removes it", s.SiteURL())
			return
		}
		if derr := s.Compose(stop(), "down", "--remove-orphans"); derr != nil {
			if err == nil {
				err = derr
			} else {
				s.Say("removing the test stack failed too: %v", derr)
			}
		}
	}()

	if err := start(ctx); err != nil {
		return err
	}
	if err := removeLeftover(ctx, s, cfg); err != nil {
		return err
	}
	if err := s.Run(ctx, cfg.Create()); err != nil {
		return err
	}
	defer func() {
		if rerr := s.Run(stop(), cfg.Remove()); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err := s.Run(ctx, cfg.CopySpecs(s.Root)); err != nil {
		return err
	}
	runErr := s.Run(ctx, cfg.Start())
	artifacts := false
	if CopyAfter(runErr, ctx.Err() != nil) {
		artifacts = copyResults(stop(), s, cfg)
	}
	if runErr == nil && !s.DryRun {
		s.Say("the browser tests passed; screenshots and reports are in %s/", ArtifactsDir)
	}
	return Failed(runErr, artifacts)
}

// networkOf is the network the runner joins to reach service by name: the
// compose network of service, as the engine names it (<project>_test-network).
func networkOf(ctx context.Context, s *session.Stack, service string) (string, error) {
	p, err := s.Load(ctx)
	if err != nil {
		return "", err
	}
	svc, ok := p.Services[service]
	if !ok {
		return "", fmt.Errorf("%s has no service %q: the browser tests open the site through it", s.Env.Environment.ComposeFile, service)
	}
	var keys []string
	for k := range svc.Networks {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return s.Project.Name + "_default", nil
	}
	sort.Strings(keys)
	if n, ok := p.Networks[keys[0]]; ok && n.Name != "" {
		return n.Name, nil
	}
	return s.Project.Name + "_" + keys[0], nil
}

// ensureRunnerImage pulls the runner image unless the engine has it, before
// anything starts. A dry run (which needs no engine) prints the pull.
func ensureRunnerImage(ctx context.Context, s *session.Stack, cfg Config) error {
	if s.DryRun {
		s.Say("[dry-run] unless the engine has %s:", cfg.Image)
		s.Print(cfg.Pull())
		return nil
	}
	if _, err := s.Query(ctx, cfg.HasImage()); err == nil {
		return nil
	}
	err := s.Run(ctx, cfg.Pull())
	var exit *runner.ExitError
	if errors.As(err, &exit) && !session.IsExplained(err) {
		return cfg.PullFailed(err)
	}
	return err
}

// removeLeftover removes the runner container a killed run left behind,
// which would keep the name taken. The probe only reads, so a dry run
// (which needs no engine) skips it.
func removeLeftover(ctx context.Context, s *session.Stack, cfg Config) error {
	if s.DryRun {
		return nil
	}
	out, err := s.Query(ctx, cfg.Leftover())
	if err != nil {
		return s.Explain(ctx, cfg.Leftover(), err)
	}
	if strings.TrimSpace(out) == "" {
		return nil
	}
	s.Say("removing the runner container %s left by an earlier run", cfg.ContainerName())
	return s.Run(ctx, cfg.Remove())
}

// copyResults replaces test-results/e2e/ with the runner's results and
// says whether there are any; a runner that wrote none is not an error of
// its own (its exit status tells).
func copyResults(ctx context.Context, s *session.Stack, cfg Config) bool {
	dir := filepath.Join(s.Root, ArtifactsDir)
	if s.DryRun {
		s.Say("[dry-run] remove %s/ (the previous run's results)", ArtifactsDir)
		s.Print(cfg.CopyResults(s.Root))
		return true
	}
	if err := os.RemoveAll(dir); err != nil {
		s.Say("the previous results stay in %s/: %v", ArtifactsDir, err)
		return false
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		s.Say("no results copied: %v", err)
		return false
	}
	if err := s.Run(ctx, cfg.CopyResults(s.Root)); err != nil {
		if !errors.Is(err, context.Canceled) {
			s.Say("the runner left no %s/%s folder: no screenshots or reports to keep", Workdir, ResultsDir)
		}
		return false
	}
	return true
}
