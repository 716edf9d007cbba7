package targets

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/stack"
	"github.com/kettleofketchup/dtx_website/internal/validate"
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
func Up(ctx context.Context, o Options, name string, source Source, attached bool) error {
	s, refs, err := o.ready(ctx, name)
	if err != nil {
		return err
	}
	used := stack.ImagesInRefs(s.env.Registry(), refs)
	switch source {
	case Built:
		p, err := s.planFor(used, false)
		if err != nil {
			return err
		}
		if err := s.build(ctx, p); err != nil {
			return err
		}
	case Pulled:
		version, err := s.env.Version()
		if err != nil {
			return err
		}
		for _, img := range used {
			if err := s.docker(ctx, runner.Command{Name: "docker", Args: []string{"pull", img.Ref(s.env.Registry(), version)}}); err != nil {
				return err
			}
		}
	}
	if err := s.prepareFolders(ctx); err != nil {
		return err
	}
	if err := s.useEnvOverride(ctx); err != nil {
		return err
	}
	if attached {
		// Said before the logs start, where the user still sees it.
		s.Say("the site will be at %s (a self-signed certificate: the browser warns once); Ctrl-C stops the stack", s.siteURL())
		// No interactive menu: the child is not in the terminal's foreground
		// group, and Ctrl-C reaches it through us.
		return s.compose(ctx, "up", "--remove-orphans", "--menu=false")
	}
	return s.compose(ctx, "up", "--detach", "--wait", "--wait-timeout", waitTimeoutSeconds, "--remove-orphans")
}

// Down stops and removes environment name's containers and networks. Data in
// bind mounts (redis, certificates) stays.
func Down(ctx context.Context, o Options, name string) error {
	return composeVerb(ctx, o, name, "down", "--remove-orphans")
}

// Logs follows the logs of environment name until Ctrl-C, its documented
// end: an interrupt is success, not an error (a timeout given with -t
// still is one).
func Logs(ctx context.Context, o Options, name string) error {
	err := composeVerb(ctx, o, name, "logs", "--follow", "--tail", "200")
	if errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return err
}

// Ps lists environment name's containers.
func Ps(ctx context.Context, o Options, name string) error {
	return composeVerb(ctx, o, name, "ps")
}

// Exec runs command, split into words as a shell would, in service of
// environment name, on the terminal when there is one.
func Exec(ctx context.Context, o Options, name, service, command string) error {
	words, err := splitWords(command)
	if err != nil {
		return err
	}
	s, err := o.open(name)
	if err != nil {
		return err
	}
	if _, err := s.validate(ctx); err != nil {
		return err
	}
	if err := validate.Service(service, s.services); err != nil {
		return fmt.Errorf("stack:exec: service %s %w", shown(service), err)
	}
	args := []string{"exec"}
	if !isTerminal(os.Stdin) {
		args = append(args, "-T")
	}
	args = append(append(args, service), words...)
	cmd := s.project.Command(args...)
	cmd.Interactive = true
	return s.docker(ctx, cmd)
}

// useEnvOverride writes the env override (names only) that makes the process
// environment win inside the containers too, and passes it to compose; a
// dry run prints what it would write.
func (s *session) useEnvOverride(ctx context.Context) error {
	o, err := s.project.EnvOverride(ctx, s.Environ)
	if err != nil {
		return err
	}
	if len(o.Services) == 0 {
		return nil
	}
	if s.DryRun {
		s.Say("[dry-run] write %s: %s", o.Path, o.Summary())
	} else if err := o.Write(s.Root); err != nil {
		return err
	}
	s.project.Override = o.Path
	return nil
}

func composeVerb(ctx context.Context, o Options, name string, args ...string) error {
	s, _, err := o.ready(ctx, name)
	if err != nil {
		return err
	}
	return s.compose(ctx, args...)
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// siteURL is where a browser on this machine reaches the stack's nginx:
// localhost (the self-signed certificate covers it whatever DOMAIN is) on
// the published HTTPS port.
func (s *session) siteURL() string {
	port := s.env.Value("HTTPS_PORT")
	if port == "" || port == "443" {
		return "https://localhost/"
	}
	return "https://localhost:" + port + "/"
}
