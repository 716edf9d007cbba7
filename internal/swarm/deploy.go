package swarm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Timeout bounds how long a swarm target waits for the services to
// converge, roll back or go away.
const Timeout = 10 * time.Minute

// pollEvery is how often the swarm targets ask the manager.
const pollEvery = time.Second

// Deploy deploys the release stack at VERSION to the swarm the docker
// CLI manages and waits until every service has converged or rolled back.
func (s *Stack) Deploy(ctx context.Context) error {
	if !s.DryRun {
		if err := s.requireManager(ctx); err != nil {
			return err
		}
	}
	plan, err := s.plan(ctx)
	if err != nil {
		return err
	}
	if s.DryRun {
		s.Say("[dry-run] the stack file of %s (it holds no secret value):\n%s", s.Name, indent(s.Mask(string(plan.File))))
	}
	if err := s.createObjects(ctx, secretKind, plan.Secrets); err != nil {
		return err
	}
	if err := s.createObjects(ctx, configKind, plan.Configs); err != nil {
		return err
	}
	before := s.updateStatuses(ctx, plan.Services)
	if err := s.Run(ctx, s.deployCommand(plan.File)); err != nil {
		return err
	}
	final, err := s.await(ctx, plan.Services, before, "every service of "+s.Name+" has converged or rolled back")
	if err != nil || s.DryRun {
		return err
	}
	version, _ := s.Env.Version()
	said, failure := Report(s.Name, plan.Services, final, "version "+version)
	for _, line := range said {
		s.Say("%s", line)
	}
	if failure == nil {
		s.Say("%s: every service converged (version %s)", s.Name, version)
		return nil
	}
	// A release is whole or not at all: the services this deploy updated
	// go back too when another rolled back.
	var back []string
	for _, name := range RollingServices {
		if final[name].State == "completed" {
			back = append(back, name)
		}
	}
	if len(back) > 0 {
		s.Say("%s: rolling back %s too, so that the release stays whole", s.Name, strings.Join(back, ", "))
		if err := s.rollback(ctx, back); err != nil {
			return fmt.Errorf("%w (and rolling back %s: %v)", failure, strings.Join(back, ", "), err)
		}
	}
	return failure
}

// createObjects creates the secrets or configs the stack uses that do not
// exist yet: they are named by content, so one that exists holds these
// bytes already.
func (s *Stack) createObjects(ctx context.Context, kind objectKind, objs []Object) error {
	for _, obj := range objs {
		if _, err := s.Query(ctx, existsCommand(kind, obj.Name)); err == nil {
			continue
		}
		if err := s.Run(ctx, s.createCommand(kind, obj)); err != nil {
			return err
		}
	}
	return nil
}

// Rollback rolls frontend and backend back to their previous spec and
// waits until the rollback has ended.
func (s *Stack) Rollback(ctx context.Context) error { return s.rollback(ctx, RollingServices) }

// rollback rolls services back to their previous spec and waits.
func (s *Stack) rollback(ctx context.Context, services []string) error {
	before := s.updateStatuses(ctx, services)
	for _, name := range services {
		if err := s.Run(ctx, s.rollbackCommand(name)); err != nil {
			return err
		}
	}
	final, err := s.await(ctx, services, before, "the rollbacks have ended")
	if err != nil || s.DryRun {
		return err
	}
	said, err := RollbackReport(s.Name, services, final)
	for _, line := range said {
		s.Say("%s", line)
	}
	return err
}

// updateStatuses reads the services' UpdateStatus (a missing service has none).
func (s *Stack) updateStatuses(ctx context.Context, services []string) map[string]UpdateStatus {
	st := map[string]UpdateStatus{}
	for _, name := range services {
		out, err := s.Query(ctx, s.updateStatusCommand(name))
		if err != nil {
			continue
		}
		if u, ok := ParseUpdateStatus(out); ok {
			st[name] = u
		}
	}
	return st
}

// await waits (Poll) until Convergence has an outcome for every service
// and returns them; in a dry run it only says what it would wait for.
func (s *Stack) await(ctx context.Context, services []string, before map[string]UpdateStatus, what string) (map[string]Outcome, error) {
	c := NewConvergence(services, before)
	start := s.Now()
	var pending []string
	err := s.Poll(ctx, session.Wait{What: what, Every: pollEvery, Timeout: Timeout}, func(ctx context.Context) (bool, error) {
		l, err := s.look(ctx, c, start)
		if err != nil {
			return true, err
		}
		pending = c.Step(l)
		return len(pending) == 0, nil
	})
	if errors.Is(err, session.ErrTimeout) {
		return nil, fmt.Errorf("%s: %s did not converge within %s: see ./dtx swarm:ps", s.Name, strings.Join(pending, ", "), Timeout)
	}
	return c.Final, err
}

// look reads what Convergence decides from: the statuses, replicas and
// task errors, and the status of a task an update stopped on.
func (s *Stack) look(ctx context.Context, c *Convergence, start time.Time) (Look, error) {
	l := Look{Status: s.updateStatuses(ctx, c.Services), TaskStatus: map[string]string{}}
	out, err := s.Query(ctx, s.replicasCommand())
	if err != nil {
		return l, err
	}
	l.Replicas = ParseReplicas(out, s.Name)
	if out, err := s.Query(ctx, s.tasksCommand()); err == nil {
		l.TaskErrors = TaskErrors(out, s.Name)
	}
	for name, id := range c.Asks(l.Status) {
		l.TaskStatus[name] = s.taskStatus(ctx, id)
	}
	l.Since = s.Now().Sub(start)
	return l, nil
}

// taskStatus is " (task ID: STATE: ERROR; its health check…)" for task
// id, "" when it cannot tell.
func (s *Stack) taskStatus(ctx context.Context, id string) string {
	out, err := s.Query(ctx, taskCommand(id))
	if err != nil {
		return ""
	}
	status, container := ParseTask(out)
	health := ""
	if container != "" {
		// The container is there only when the engine the CLI talks to
		// ran the task (the manager's own tasks).
		if out, err := s.Query(ctx, healthCommand(container)); err == nil {
			health = s.Mask(Health(out))
		}
	}
	return TaskStatus(id, status, health)
}

// indent indents every line of text by four spaces, for a block in the log.
func indent(text string) string {
	return "    " + strings.ReplaceAll(strings.TrimSuffix(text, "\n"), "\n", "\n    ") + "\n"
}
