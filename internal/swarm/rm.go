package swarm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Rm removes the stack, waits until its services and networks are gone,
// then removes the secrets and configs the tool made for it; its volumes
// (the stateful services' data, the ACME webroot) stay.
func (s *Stack) Rm(ctx context.Context) error {
	if err := s.Run(ctx, s.removeCommand()); err != nil {
		return err
	}
	if s.DryRun {
		s.Say("[dry-run] wait until the services and networks of %s are gone, then remove its secrets and configs (labelled %s=%s); volumes stay", s.Name, ownLabel, s.Name)
		return nil
	}
	err := s.Poll(ctx, session.Wait{What: "the services and networks of " + s.Name + " are gone", Every: pollEvery, Timeout: Timeout}, func(ctx context.Context) (bool, error) {
		var left []string
		for _, c := range s.leftoverCommands() {
			out, err := s.Query(ctx, c)
			if err != nil {
				return true, err
			}
			left = append(left, strings.Fields(out)...)
		}
		return len(left) == 0, nil
	})
	if errors.Is(err, session.ErrTimeout) {
		return fmt.Errorf("%s: services or networks still there after %s: see docker stack ps %s", s.Name, Timeout, s.Name)
	}
	if err != nil {
		return err
	}
	for _, kind := range []objectKind{secretKind, configKind} {
		ids, err := s.Query(ctx, s.ownedCommand(kind))
		if err != nil {
			return err
		}
		if f := strings.Fields(ids); len(f) > 0 {
			if err := s.Run(ctx, removeObjectsCommand(kind, f)); err != nil {
				return err
			}
		}
	}
	s.Say("removed stack %s; its volumes stay (docker volume ls --filter label=%s=%s)", s.Name, stackLabel, s.Name)
	return nil
}
