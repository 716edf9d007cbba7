package swarm

import (
	"context"
	"fmt"
	"strings"
)

// Ps lists the stack's services (version, update state, image) and their tasks.
func (s *Stack) Ps(ctx context.Context) error {
	ids, err := s.Query(ctx, s.serviceIDsCommand())
	if err != nil {
		return s.Explain(ctx, s.serviceIDsCommand(), err)
	}
	if len(strings.Fields(ids)) == 0 {
		s.Say("%s: no service (./dtx swarm:deploy deploys the stack)", s.Name)
		return nil
	}
	fmt.Fprintln(s.Stdout, "SERVICE VERSION UPDATE IMAGE")
	if err := s.Run(ctx, psServicesCommand(strings.Fields(ids))); err != nil {
		return err
	}
	if err := s.Run(ctx, s.psTasksCommand()); err != nil {
		return err
	}
	out, err := s.Query(ctx, s.tasksCommand())
	if err != nil || s.DryRun {
		return err
	}
	last := LastErrors(ParseTasks(out, s.Name))
	if len(last) == 0 {
		fmt.Fprintln(s.Stdout, "no task of "+s.Name+" has an error")
		return nil
	}
	fmt.Fprintln(s.Stdout, "LAST TASK ERROR OF EACH SERVICE")
	for _, svc := range sortedKeys(last) {
		fmt.Fprintln(s.Stdout, s.Mask(s.Service(svc)+": "+last[svc]))
	}
	return nil
}
