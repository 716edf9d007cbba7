package targets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/dockerfile"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Engine errors, each with what to do.
var (
	ErrDockerMissing  = errors.New("docker is not installed: install Docker Engine and make sure the docker CLI is on PATH")
	ErrComposeMissing = errors.New("the docker compose plugin is missing: install docker-compose-plugin (Compose v2), so that 'docker compose version' works")
	ErrEngineDown     = errors.New("the Docker engine is unreachable")
)

var probeTimeout = 10 * time.Second

// defaultDockerHost is where docker looks when DOCKER_HOST is not set.
const defaultDockerHost = "unix:///var/run/docker.sock"

// probeRunner runs the read-only probes with the Options' environment
// (PATH, DOCKER_HOST), printing nothing.
func (o Options) probeRunner() *runner.Runner {
	return &runner.Runner{Log: io.Discard, Stdout: io.Discard, Stderr: io.Discard, Environ: o.Environ}
}

// dockerHost is the engine docker talks to, for messages.
func (o Options) dockerHost() string {
	if host, ok := o.Lookup("DOCKER_HOST"); ok && host != "" {
		return host
	}
	return defaultDockerHost
}

// lookPath finds an executable in the Options' PATH.
func (o Options) lookPath(name string) (string, bool) {
	path, _ := o.Lookup("PATH")
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

func probe(ctx context.Context, r *runner.Runner, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	out, err := r.Query(ctx, runner.Command{Name: "docker", Args: args})
	return strings.TrimSpace(out), err
}

// engineState is what the three probes found: docker's client version
// (docker --version, which never talks to the engine), the compose
// plugin's and the engine's. Each probe is independent of the others.
type engineState struct {
	client, compose, server          string
	clientErr, composeErr, serverErr error
}

// probeEngine runs the three probes at once.
func probeEngine(ctx context.Context, r *runner.Runner) engineState {
	var st engineState
	done := make(chan struct{}, 2)
	go func() {
		st.compose, st.composeErr = probe(ctx, r, "compose", "version", "--short")
		done <- struct{}{}
	}()
	go func() {
		st.server, st.serverErr = probe(ctx, r, "version", "--format", "{{.Server.Version}}")
		if st.serverErr == nil && st.server == "" {
			st.serverErr = errors.New("no server version")
		}
		done <- struct{}{}
	}()
	var out string
	out, st.clientErr = probe(ctx, r, "--version")
	// "Docker version 28.2.2, build e6534b4"
	st.client = strings.TrimPrefix(strings.SplitN(out, ",", 2)[0], "Docker version ")
	<-done
	<-done
	return st
}

// engineDown is ErrEngineDown with the host and what to do.
func (o Options) engineDown() error {
	return fmt.Errorf("%w at %s: start it (sudo systemctl start docker) or point DOCKER_HOST at a running one", ErrEngineDown, o.dockerHost())
}

// explain says why a docker command failed when the cause is docker itself:
// not installed, its compose plugin missing, the engine down. The tool asks
// only once a command failed, so a command that works pays for no probe. A
// failure of any other kind is the command's own and comes back as it is.
// The returned error wraps err: mage still exits with the command's status.
func (s *session) explain(ctx context.Context, c runner.Command, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	if errors.Is(err, runner.ErrNotInstalled) {
		return &explained{reason: ErrDockerMissing.Error(), errs: []error{ErrDockerMissing, err}}
	}
	var exit *runner.ExitError
	if !errors.As(err, &exit) {
		return err
	}
	st := probeEngine(ctx, s.probeRunner())
	if isCompose(c) && st.composeErr != nil {
		return &explained{reason: ErrComposeMissing.Error(), errs: []error{ErrComposeMissing, err}}
	}
	if st.serverErr != nil {
		down := s.engineDown()
		return &explained{reason: down.Error(), errs: []error{down, err}}
	}
	return err
}

// isCompose tells a docker compose command, global options of docker
// before it or not (docker --log-level error compose …).
func isCompose(c runner.Command) bool {
	args := c.Args
	if len(args) >= 2 && args[0] == "--log-level" {
		args = args[2:]
	}
	return len(args) > 0 && args[0] == "compose"
}

// docker runs a docker command and explains its failure.
func (s *session) docker(ctx context.Context, c runner.Command) error {
	return s.explain(ctx, c, s.run.Run(ctx, c))
}

// explained is a failed command told by its reason, in one line. It wraps
// the command's error (and the cause, when there is one), so that mage
// exits with the command's own status.
type explained struct {
	reason string
	errs   []error
}

func (e *explained) Error() string   { return e.reason }
func (e *explained) Unwrap() []error { return e.errs }

// checkDockerfile makes sure img's Dockerfile is there and has the stage
// img builds.
func checkDockerfile(root string, img stack.Image) error {
	path := img.DockerfilePath()
	f, err := os.Open(filepath.Join(root, path))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: Dockerfile of image %s is missing: add it with a stage named %q", path, img.Name, orLast(img.Target))
	}
	if err != nil {
		return err
	}
	defer f.Close()
	stages, err := dockerfile.Parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if img.Target != "" && !dockerfile.Has(stages, img.Target) {
		names := dockerfile.Names(stages)
		if len(names) == 0 {
			names = []string{"none"}
		}
		return fmt.Errorf("%s has no stage named %q for image %s (its stages: %s): add one, FROM … AS %s", path, img.Target, img.Name, strings.Join(names, ", "), img.Target)
	}
	return nil
}

// Check is the doctor: every probe runs, whatever the others found, and
// prints one line, ok or FAIL; it fails when something a target needs is
// missing.
func Check(ctx context.Context, o Options) error {
	if o.mask == nil {
		o.mask = runner.NewMasker() // shared by the environments it opens
	}
	failed := 0
	line := func(mark, format string, args ...any) {
		fmt.Fprintf(o.Stdout, "%-4s  %s\n", mark, o.mask.Text(fmt.Sprintf(format, args...)))
	}
	report := func(err error, format string, args ...any) {
		if err != nil {
			failed++
			line("FAIL", "%s", err)
			return
		}
		line("ok", format, args...)
	}

	st := probeEngine(ctx, o.probeRunner())
	cause := func(err, otherwise error) error {
		switch {
		case err == nil:
			return nil
		case errors.Is(err, runner.ErrNotInstalled):
			return ErrDockerMissing
		default:
			return otherwise
		}
	}
	report(cause(st.clientErr, fmt.Errorf("docker --version failed: %w", st.clientErr)), "docker %s", st.client)
	report(cause(st.composeErr, ErrComposeMissing), "docker compose %s", st.compose)
	report(cause(st.serverErr, o.engineDown()), "engine %s answers at %s", st.server, o.dockerHost())

	for _, e := range stack.Environments {
		env, err := stack.LoadEnv(o.Root, e, o.Environ)
		if err != nil {
			report(err, "")
			line("skip", "%s: not loaded until its env file loads", e.ComposeFile)
			continue
		}
		report(nil, "%s: env files %s", e.Name, strings.Join(env.Files, " + "))
		for _, w := range env.Warnings() {
			line("warn", "%s", w)
		}
		quiet := o
		quiet.Stderr = io.Discard // open says the warnings again: once is enough
		s, err := quiet.open(e.Name)
		if err == nil {
			_, err = s.validate(ctx)
		}
		report(err, "%s: %s loads with them", e.Name, e.ComposeFile)
		if e.Name == "release" {
			v, err := env.Version()
			report(err, "VERSION %s", v)
		}
	}
	for _, img := range stack.Images {
		report(checkDockerfile(o.Root, img), "image %s: %s stage %s", img.Name, img.DockerfilePath(), orLast(img.Target))
	}

	if _, ok := o.lookPath("certbot"); !ok {
		line("note", "certbot is not installed: prod:certbot and prod:renew need it (apt-get install certbot)")
	} else if out, err := o.probeRunner().Query(ctx, runner.Command{Name: "certbot", Args: []string{"--version"}}); err != nil {
		report(fmt.Errorf("certbot --version failed: %w", err), "")
	} else {
		report(nil, "%s", strings.TrimSpace(out))
	}
	if failed > 0 {
		return fmt.Errorf("check found %d problem(s)", failed)
	}
	return nil
}

func orLast(target string) string {
	if target == "" {
		return "(last stage)"
	}
	return target
}
