package targets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/kettleofketchup/dtx_website/internal/images"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// How long `up --wait` waits for the services to be healthy.
const waitTimeoutSeconds = "120"

// Source is where a stack's project images come from before it starts.
type Source int

const (
	// Existing images: whatever the engine has (or compose pulls).
	Existing Source = iota
	// Built: the project images the stack uses are built first.
	Built
	// Pulled: the stack's project images are pulled at VERSION first.
	Pulled
)

// Up starts environment name: attached (logs in the terminal until Ctrl-C,
// which stops the stack) or detached, waiting until every service is healthy.
func Up(ctx context.Context, ses *session.Session, name string, source Source, attached bool) error {
	s, err := ses.Open(name)
	if err != nil {
		return err
	}
	return up(ctx, s, source, attached)
}

func up(ctx context.Context, s *session.Stack, source Source, attached bool) error {
	site, err := s.Site(ctx)
	if err != nil {
		return err
	}
	switch source {
	case Built:
		if err := buildUsed(ctx, s); err != nil {
			return err
		}
	case Pulled:
		if _, err := s.Env.Version(); err != nil {
			return err
		}
		// The project's images, as the compose file names them at VERSION.
		var pulled []string
		for _, svc := range site.Services {
			if svc.Built && !slices.Contains(pulled, svc.Image) {
				pulled = append(pulled, svc.Image)
				if err := s.Run(ctx, session.Docker("pull", svc.Image)); err != nil {
					return err
				}
			}
		}
	}
	if err := s.Prepare(ctx); err != nil {
		return err
	}
	if attached {
		return upAttached(ctx, s)
	}
	err = s.Compose(ctx, "up", "--detach", "--wait", "--wait-timeout", waitTimeoutSeconds, "--remove-orphans")
	var exit *runner.ExitError
	if err == nil {
		if !s.DryRun {
			s.Say("the %s stack is up: the site is at %s (%s)", s.Name(), s.SiteURL(), certificateNote(s))
		}
		return nil
	}
	if ctx.Err() != nil || session.IsExplained(err) || !errors.As(err, &exit) {
		return err
	}
	return notHealthy(ctx, s, err)
}

// upAttached runs the stack with its logs in the terminal until Ctrl-C,
// its documented end: then compose stops the containers, the tool says so
// in one line and exits 0; a second Ctrl-C forces, as with compose. While
// it runs, a change to a dependency file of an image it built is told.
func upAttached(ctx context.Context, s *session.Stack) error {
	// Said before the logs start, where the user still sees it.
	s.Say("the site will be at %s (%s); Ctrl-C stops the stack", s.SiteURL(), certificateNote(s))
	stopWatch := watchDependencies(ctx, s)
	defer stopWatch()
	// No interactive menu: the child is not in the terminal's foreground
	// group, and Ctrl-C reaches it through us.
	interrupted, err := s.RunAttached(ctx, s.ComposeCommand("up", "--remove-orphans", "--menu=false"))
	if interrupted {
		s.Say("stopped the %s stack; ./dtx stack:down %s removes it", s.Name(), s.Name())
		return nil
	}
	return err
}

// certificateNote says which certificate the site serves at first.
func certificateNote(s *session.Stack) string {
	if s.Name() == "debug" || s.Name() == "test" {
		return "a self-signed certificate: the browser warns once"
	}
	return "the self-signed certificate until prod:certbot gets one"
}

// StackBuild builds the images environment name's stack uses (tagged
// latest), as dev:debug, dev:test and dev:prod do before they start it.
func StackBuild(ctx context.Context, o *session.Session, name string) error {
	s, err := o.Open(name)
	if err != nil {
		return err
	}
	return buildUsed(ctx, s)
}

// buildUsed builds the project images the stack's services use.
func buildUsed(ctx context.Context, s *session.Stack) error {
	used, err := images.ForStack(ctx, s)
	if err != nil {
		return err
	}
	if len(used) == 0 {
		s.Say("the %s stack uses no image the project builds: nothing to build", s.Name())
		return nil
	}
	p, err := images.PlanFor(s, used, false)
	if err != nil {
		return err
	}
	return images.Build(ctx, s, p)
}

// serviceState is one container of `docker compose ps --format json`.
type serviceState struct {
	ID       string
	Service  string
	State    string // running, exited, created…
	Health   string // healthy, unhealthy, starting, or empty without a HEALTHCHECK
	ExitCode int
}

// healthy tells a container that `up --wait` would accept.
func (c serviceState) healthy() bool {
	return c.State == "running" && (c.Health == "" || c.Health == "healthy")
}

func (c serviceState) String() string {
	switch {
	case c.State == "exited":
		return fmt.Sprintf("%s (exited with %d)", c.Service, c.ExitCode)
	case c.State == "running" && c.Health != "":
		return fmt.Sprintf("%s (%s)", c.Service, c.Health)
	default:
		return fmt.Sprintf("%s (%s)", c.Service, c.State)
	}
}

// parseServiceStates reads `docker compose ps --format json`: one object
// per line (compose 2.21 and later) or one array (before).
func parseServiceStates(out string) ([]serviceState, error) {
	out = strings.TrimSpace(out)
	var states []serviceState
	if strings.HasPrefix(out, "[") {
		err := json.Unmarshal([]byte(out), &states)
		return states, err
	}
	for _, line := range splitLines(out) {
		var st serviceState
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			return nil, err
		}
		states = append(states, st)
	}
	return states, nil
}

// lastHealthCheck is the last line the container's health check printed,
// which its log does not show; empty when there is none.
func lastHealthCheck(ctx context.Context, s *session.Stack, st serviceState) string {
	if st.ID == "" || st.Health == "" {
		return ""
	}
	out, err := s.Query(ctx, session.Docker("inspect", "--format", "{{range .State.Health.Log}}{{println .Output}}{{end}}", st.ID))
	if err != nil {
		return ""
	}
	lines := splitLines(out)
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

// notHealthy explains a failed `up --wait`: it names the services that are
// not healthy, shows the last lines of their logs, and says what to run
// next. The returned error wraps upErr, so the exit status stays compose's.
func notHealthy(ctx context.Context, s *session.Stack, upErr error) error {
	name := s.Name()
	next := fmt.Sprintf("./dtx stack:logs %s follows its logs, ./dtx stack:down %s stops it", name, name)
	out, err := s.Query(ctx, s.ComposeCommand("ps", "--all", "--format", "json"))
	if err != nil {
		return session.Explain(fmt.Sprintf("%s; %s", upErr, next), upErr)
	}
	states, err := parseServiceStates(out)
	if err != nil {
		return session.Explain(fmt.Sprintf("%s; %s", upErr, next), upErr)
	}
	var bad []string
	for _, st := range states {
		if st.healthy() {
			continue
		}
		bad = append(bad, st.String())
		s.Say("not healthy: %s; the last lines of its log:", st)
		// Its log is the container's output, passed on as it is.
		_ = s.RunQuiet(ctx, s.ComposeCommand("logs", "--no-color", "--tail", "20", st.Service))
		if said := lastHealthCheck(ctx, s, st); said != "" {
			s.Say("%s: its last health check said: %s", st.Service, said)
		}
	}
	if len(bad) == 0 {
		return session.Explain(fmt.Sprintf("%s; %s", upErr, next), upErr)
	}
	return session.Explain(fmt.Sprintf("the %s stack did not become healthy: %s; %s", name, strings.Join(bad, ", "), next), upErr)
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
