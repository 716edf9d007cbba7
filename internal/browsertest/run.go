package browsertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Environment is the stack the browser tests run against.
const Environment = "test"

// teardownTimeout bounds the removal of the runner and the stack once the
// run is over; after Ctrl-C, mage itself exits 5 s later whatever runs. A
// variable so that tests can shorten it.
var teardownTimeout = 2 * time.Minute

// Run runs the browser tests against s, the test stack: it decides the
// framework by the config the project folder holds, builds the Playwright
// runner (or pulls the runner image unless the engine has it), starts the
// stack with start (healthy when it returns), runs the runner as a one-off
// container on the stack's network against the stack's proxy
// (https://PROXY:PORT, see findSite), copies its results to
// test-results/e2e/, removes the runner and (unless KEEP=1) the stack, and
// returns the runner's failure with its exit status.
//
// start is given, not called from here, because starting a stack (its dev
// images built first, its folders and certificate prepared, up --wait and
// the explanation of a service that is not healthy) is the stack targets'
// run in internal/targets, which imports this package for test:e2e's entry
// point: calling it from here would be an import cycle.
func Run(ctx context.Context, s *session.Stack, opts Options, start func(context.Context) error) (err error) {
	ctx, release := interruptible(ctx, s)
	defer release()
	if _, err := s.Load(ctx); err != nil {
		return err
	}
	cfg, err := FromEnv(s.Env, s.Root, s.Env.Registry(), opts, runner.SplitWords)
	if err != nil {
		return err
	}
	cfg.Project = s.Project.Name
	if err := cfg.findSite(ctx, s); err != nil {
		return err
	}
	s.Say("%s", cfg.Chosen())

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
	if err := copyProject(ctx, s, cfg); err != nil {
		return err
	}
	runErr := s.Run(ctx, cfg.Start())
	artifacts := false
	if CopyAfter(runErr, ctx.Err() != nil) {
		artifacts = copyResults(stop(), s, cfg)
	}
	if artifacts && !s.DryRun {
		sayReport(s)
	}
	if runErr == nil && !s.DryRun {
		s.Say("the browser tests passed; reports are in %s/", ArtifactsDir)
	}
	return Failed(runErr, artifacts)
}

// findSite sets where the runner opens the site: the stack's proxy (by its
// role, never by name), on the network the proxy is on and the port it
// serves HTTPS on inside its container, which the compose file maps
// HTTPS_PORT to.
func (c *Config) findSite(ctx context.Context, s *session.Stack) error {
	proxy, err := s.Proxy(ctx)
	if err != nil {
		return err
	}
	p, err := s.Load(ctx)
	if err != nil {
		return err
	}
	c.Proxy = proxy.Name
	c.BaseURL = SiteURL(proxy.Name, roles.TLSPort(p.Services[proxy.Name].Ports, s.Env.Value("HTTPS_PORT")))
	c.Network, err = networkOf(ctx, s, proxy.Name)
	return err
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

// ensureRunnerImage builds the Playwright runner, or pulls the runner image
// unless the engine has it, before anything starts. A dry run (which needs
// no engine) prints the build or the pull.
func ensureRunnerImage(ctx context.Context, s *session.Stack, cfg Config) error {
	if cfg.Build {
		if _, err := os.Stat(filepath.Join(s.Root, RunnerCompose)); err != nil {
			return fmt.Errorf("%s is missing: it builds the Playwright runner; restore it, or set %s to a Playwright runner image", RunnerCompose, ImageVar)
		}
		return s.Run(ctx, cfg.BuildRunner(s.Root))
	}
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

// copyProject copies the project folder into the runner, with the wrapper
// config beside a Playwright project's own.
func copyProject(ctx context.Context, s *session.Stack, cfg Config) error {
	cmd := cfg.CopyProject()
	if s.DryRun {
		return s.Run(ctx, cmd)
	}
	extra := map[string][]byte{}
	if cfg.Framework == Playwright {
		extra[cfg.WrapperFile()] = cfg.WrapperConfig()
	}
	dir := cfg.Dir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.Root, dir)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := WriteProject(pw, dir, extra)
		pw.CloseWithError(err)
		done <- err
	}()
	cmd.Stdin = pr
	err := s.Run(ctx, cmd)
	pr.CloseWithError(io.ErrClosedPipe) // the writer stops if docker stopped reading
	if werr := <-done; werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		return fmt.Errorf("copying %s/ into the runner: %w", cfg.Dir, werr)
	}
	return err
}

// copyResults replaces test-results/e2e/ with the runner's results, files
// and folders only, and says whether there are any; a runner that wrote
// none is not an error of its own (its exit status tells).
func copyResults(ctx context.Context, s *session.Stack, cfg Config) bool {
	dir := filepath.Join(s.Root, ArtifactsDir)
	if s.DryRun {
		s.Say("[dry-run] remove %s/ (the previous run's results)", ArtifactsDir)
		s.Print(cfg.CopyResults())
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
	pr, pw := io.Pipe()
	type result struct {
		u   Unpacked
		err error
	}
	done := make(chan result, 1)
	go func() {
		u, err := UnpackResults(pr, dir)
		pr.CloseWithError(err) // docker's output then fails, and it stops
		done <- result{u, err}
	}()
	cmd := cfg.CopyResults()
	cmd.Stdout = pw
	err := s.RunQuiet(ctx, cmd)
	pw.Close()
	r := <-done
	if len(r.u.Dropped) > 0 {
		s.Say("dropped %d link(s) or special file(s) the runner left in its results (never followed): %s", len(r.u.Dropped), strings.Join(r.u.Dropped, ", "))
	}
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		s.Say("the runner left no %s folder: no reports to keep", Results)
		os.RemoveAll(dir)
		return false
	case r.err != nil:
		s.Say("copying the results stopped: %v", r.err)
		return r.u.Files > 0
	}
	return err == nil
}

// sayReport says where the HTML report is, last, as Playwright would.
func sayReport(s *session.Stack) {
	report := filepath.Join(ArtifactsDir, "report", "index.html")
	if _, err := os.Stat(filepath.Join(s.Root, report)); err == nil {
		s.Say("the HTML report: %s (npx playwright show-report %s)", report, filepath.Dir(report))
	}
}
