package targets

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/validate"
)

// Down stops and removes environment name's containers and networks. Data in
// bind mounts (redis, certificates) stays.
func Down(ctx context.Context, o *session.Session, name string) error {
	return composeVerb(ctx, o, name, "down", "--remove-orphans")
}

// Logs follows the logs of environment name until Ctrl-C, its documented
// end: an interrupt is success, not an error (a timeout given with -t
// still is one).
func Logs(ctx context.Context, o *session.Session, name string) error {
	err := composeVerb(ctx, o, name, "logs", "--follow", "--tail", "200")
	if errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return err
}

// Ps lists environment name's containers.
func Ps(ctx context.Context, o *session.Session, name string) error {
	return composeVerb(ctx, o, name, "ps")
}

// Exec runs command, split into words as a shell would, in service of
// environment name's running stack, on the terminal when there is one.
func Exec(ctx context.Context, o *session.Session, name, service, command string) error {
	return inService(ctx, o, "stack:exec", name, service, command, "exec")
}

// Run runs command, split into words as a shell would, in a one-off
// container of service's image (a migration, say), removed afterwards;
// the services it depends on are started first, as compose does.
func Run(ctx context.Context, o *session.Session, name, service, command string) error {
	return inService(ctx, o, "stack:run", name, service, command, "run", "--rm")
}

// inService runs compose verb (exec or run) with command in service.
func inService(ctx context.Context, o *session.Session, target, name, service, command string, verb ...string) error {
	words, err := runner.SplitWords(command)
	if err != nil {
		return err
	}
	s, err := o.Open(name)
	if err != nil {
		return err
	}
	if err := checkService(ctx, s, target, service); err != nil {
		return err
	}
	if verb[0] == "run" {
		// A one-off container reads the env files like the services.
		if err := s.UseEnvOverride(ctx); err != nil {
			return err
		}
	}
	args := append([]string{}, verb...)
	if !isTerminal(os.Stdin) {
		args = append(args, "-T")
	}
	args = append(append(args, service), words...)
	cmd := s.ComposeCommand(args...)
	cmd.Interactive = true
	return s.Run(ctx, cmd)
}

// checkService loads the stack's compose file and refuses a service it does
// not have, before anything runs.
func checkService(ctx context.Context, s *session.Stack, target, service string) error {
	model, err := s.Load(ctx)
	if err != nil {
		return err
	}
	if err := validate.Service(service, model.ServiceNames()); err != nil {
		return fmt.Errorf("%s: service %s %w", target, session.Shown(service), err)
	}
	return nil
}

// Restart restarts environment name's containers, or those of one service.
func Restart(ctx context.Context, o *session.Session, name, service string) error {
	return serviceVerb(ctx, o, "stack:restart", name, service, "restart")
}

// Stop stops environment name's containers, or those of one service,
// without removing them (stack:up starts them again).
func Stop(ctx context.Context, o *session.Session, name, service string) error {
	return serviceVerb(ctx, o, "stack:stop", name, service, "stop")
}

// serviceVerb runs a compose verb on the whole stack or, when service is
// set, on that service only, which must be one of the stack's.
func serviceVerb(ctx context.Context, o *session.Session, target, name, service, verb string) error {
	if service == "" {
		return composeVerb(ctx, o, name, verb)
	}
	s, err := o.Open(name)
	if err != nil {
		return err
	}
	if err := checkService(ctx, s, target, service); err != nil {
		return err
	}
	return s.Compose(ctx, verb, service)
}

// StackPull pulls the images of environment name's services from their
// registries (what compose would pull before an up).
func StackPull(ctx context.Context, o *session.Session, name string) error {
	return composeVerb(ctx, o, name, "pull")
}

// Top lists the processes of environment name's containers.
func Top(ctx context.Context, o *session.Session, name string) error {
	return composeVerb(ctx, o, name, "top")
}

// composeVerb runs a compose command that needs nothing from the compose
// file but compose itself (ps, logs, down). Compose loads and checks the
// file anyway, so the tool's own load through compose-go (about a fifth of
// a cheap target's time) only explains a failure, as the engine probes do:
// a bad file or a missing variable still ends in one line naming it. A dry
// run runs nothing, so it checks first.
func composeVerb(ctx context.Context, o *session.Session, name string, args ...string) error {
	s, err := o.Open(name)
	if err != nil {
		return err
	}
	if s.DryRun {
		if _, err := s.Load(ctx); err != nil {
			return err
		}
	}
	c := s.ComposeCommand(args...)
	err = s.RunQuiet(ctx, c)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if _, verr := s.Load(ctx); verr != nil {
		return verr
	}
	return s.Explain(ctx, c, err)
}
