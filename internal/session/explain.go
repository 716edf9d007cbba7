package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// Engine errors, each with what to do.
var (
	ErrDockerMissing  = errors.New("docker is not installed: install Docker Engine and make sure the docker CLI is on PATH")
	ErrComposeMissing = errors.New("the docker compose plugin is missing: install docker-compose-plugin (Compose v2), so that 'docker compose version' works")
	ErrEngineDown     = errors.New("the Docker engine is unreachable")
)

// ProbeTimeout bounds each engine probe.
var ProbeTimeout = 10 * time.Second

// probeRunner runs the read-only probes with the session's environment
// (PATH, DOCKER_HOST), printing nothing.
func (s *Session) probeRunner() *runner.Runner {
	return &runner.Runner{Log: io.Discard, Stdout: io.Discard, Stderr: io.Discard, Environ: s.Environ, Secrets: s.secrets}
}

func probe(ctx context.Context, r *runner.Runner, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	out, err := r.Query(ctx, Docker(args...))
	return strings.TrimSpace(out), err
}

// EngineState is what the three probes found: docker's client version
// (docker --version, which never talks to the engine), the compose
// plugin's and the engine's. Each probe is independent of the others.
type EngineState struct {
	Client, Compose, Server          string
	ClientErr, ComposeErr, ServerErr error
}

// ProbeEngine runs the three probes at once.
func (s *Session) ProbeEngine(ctx context.Context) EngineState {
	r := s.probeRunner()
	var st EngineState
	done := make(chan struct{}, 2)
	go func() {
		st.Compose, st.ComposeErr = probe(ctx, r, "compose", "version", "--short")
		done <- struct{}{}
	}()
	go func() {
		st.Server, st.ServerErr = probe(ctx, r, "version", "--format", "{{.Server.Version}}")
		if st.ServerErr == nil && st.Server == "" {
			st.ServerErr = errors.New("no server version")
		}
		done <- struct{}{}
	}()
	var out string
	out, st.ClientErr = probe(ctx, r, "--version")
	// "Docker version 28.2.2, build e6534b4"
	st.Client = strings.TrimPrefix(strings.SplitN(out, ",", 2)[0], "Docker version ")
	<-done
	<-done
	return st
}

// EngineDown is ErrEngineDown with the host and what to do.
func (s *Session) EngineDown() error {
	return fmt.Errorf("%w at %s: start it (sudo systemctl start docker) or point DOCKER_HOST at a running one", ErrEngineDown, s.DockerHost())
}

// Explain says why a docker command failed when the cause is docker itself:
// not installed, its compose plugin missing, the engine down. The tool asks
// only once a command failed, so a command that works pays for no probe. A
// failure of any other kind is the command's own and comes back as it is.
// The returned error wraps err: mage still exits with the command's status.
func (s *Session) Explain(ctx context.Context, c runner.Command, err error) error {
	if err == nil || ctx.Err() != nil || c.Name != "docker" {
		return err
	}
	var why *Explained
	if errors.As(err, &why) {
		return err // explained already
	}
	if errors.Is(err, runner.ErrNotInstalled) {
		return Explain(ErrDockerMissing.Error(), ErrDockerMissing, err)
	}
	var exit *runner.ExitError
	if !errors.As(err, &exit) {
		return err
	}
	st := s.ProbeEngine(ctx)
	if isCompose(c) && st.ComposeErr != nil {
		return Explain(ErrComposeMissing.Error(), ErrComposeMissing, err)
	}
	if st.ServerErr != nil {
		down := s.EngineDown()
		return Explain(down.Error(), down, err)
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

// Explained is a failed command told by its reason, in one line. It wraps
// the command's error (and the cause, when there is one), so that mage
// exits with the command's own status.
type Explained struct {
	Reason string
	Errs   []error
}

// Explain returns an *Explained with reason, wrapping errs.
func Explain(reason string, errs ...error) error { return &Explained{Reason: reason, Errs: errs} }

func (e *Explained) Error() string   { return e.Reason }
func (e *Explained) Unwrap() []error { return e.Errs }

// IsExplained tells whether err already says its reason in one line.
func IsExplained(err error) bool {
	var why *Explained
	return errors.As(err, &why)
}
