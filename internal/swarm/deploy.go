package swarm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/runner"
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
	site, err := s.Site(ctx)
	if err != nil {
		return err
	}
	if !s.DryRun {
		if err := s.requireManager(ctx, site); err != nil {
			return err
		}
	}
	plan, err := s.plan(ctx)
	if err != nil {
		return err
	}
	for _, n := range plan.Notes {
		s.Say("note: %s", n)
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
	before, existed := s.updateStatuses(ctx, plan.Services)
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
		return s.prune(ctx)
	}
	for _, name := range plan.Services {
		if o := final[name]; o.Task != "" && o.State != "completed" && o.State != "running" {
			s.showTaskLogs(ctx, name, o.Task)
		}
	}
	back, stay := ToRollBack(plan.Services, existed, final)
	if len(stay) > 0 {
		s.Say("%s: %s %s new in this release and %s (no previous spec): ./dtx swarm:deploy of the previous VERSION removes %s", s.Name,
			strings.Join(stay, ", "), plural(len(stay), "is", "are"), plural(len(stay), "stays", "stay"), plural(len(stay), "it", "them"))
	}
	if len(back) > 0 {
		s.Say("%s: rolling back %s, so that the release stays whole", s.Name, strings.Join(back, ", "))
		if err := s.rollback(ctx, back); err != nil {
			return fmt.Errorf("%w (and rolling back %s: %v)", failure, strings.Join(back, ", "), err)
		}
	}
	return failure
}

// createObjects creates the secrets or configs the stack uses that do not
// exist yet: they are named by (a keyed hash of) their content, so one that
// exists holds these bytes already.
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

// ToRollBack decides, after a deploy that failed, which services go back
// to their previous spec so that the release stays whole: every service
// that existed before the deploy (its spec changed, if only its version
// label), except those Swarm rolled back itself. A service new in this
// release has no previous spec: it stays.
func ToRollBack(services []string, existed map[string]bool, final map[string]Outcome) (back, stay []string) {
	for _, name := range services {
		switch {
		case !existed[name]:
			stay = append(stay, name)
		case !strings.HasPrefix(final[name].State, "rollback_"):
			back = append(back, name)
		}
	}
	return back, stay
}

// Rollback rolls every service of the stack that has a previous spec back
// to it (the release before the last deploy) and waits until the
// rollbacks have ended.
func (s *Stack) Rollback(ctx context.Context) error {
	ids, err := s.Query(ctx, s.serviceIDsCommand())
	if err != nil && s.DryRun {
		s.Say("[dry-run] roll back every service of %s that has a previous spec (the manager does not answer: which is not known)", s.Name)
		return nil
	}
	if err != nil {
		return s.Explain(ctx, s.serviceIDsCommand(), err)
	}
	var services []string
	if f := strings.Fields(ids); len(f) > 0 {
		out, err := s.Query(ctx, versionsCommand(f))
		if err != nil {
			return err
		}
		var versions map[string]string
		services, versions = Rollbackable(out, s.Name)
		for _, name := range services {
			if v := versions[name]; v != "" {
				s.Say("%s: back to version %s", s.Service(name), v)
			}
		}
	}
	if len(services) == 0 {
		return fmt.Errorf("%s: no service has a previous spec to roll back to: see ./dtx swarm:ps", s.Name)
	}
	return s.rollback(ctx, services)
}

// Rollbackable reads versionsCommand's output: the stack's services (without
// its prefix, sorted) that have a previous spec, and the version each goes
// back to ("" when its previous spec has no version label).
func Rollbackable(out, stack string) (services []string, previous map[string]string) {
	previous = map[string]string{}
	for _, line := range lines(out) {
		f := strings.Split(line, "|")
		if len(f) != 3 || !strings.HasPrefix(f[2], "+") {
			continue
		}
		name := strings.TrimPrefix(f[0], stack+"_")
		services = append(services, name)
		previous[name] = strings.TrimPrefix(f[2], "+")
	}
	sort.Strings(services)
	return services, previous
}

// rollback rolls services back to their previous spec and waits. One
// that cannot start (no previous spec) does not keep the others from going
// back: it is named in the error.
func (s *Stack) rollback(ctx context.Context, services []string) error {
	before, _ := s.updateStatuses(ctx, services)
	var started, refused []string
	for _, name := range services {
		if err := s.Run(ctx, s.rollbackCommand(name)); err != nil {
			if ctx.Err() != nil {
				return err
			}
			refused = append(refused, s.Service(name))
			continue
		}
		started = append(started, name)
	}
	var err error
	if len(started) > 0 {
		var final map[string]Outcome
		final, err = s.await(ctx, started, before, "the rollbacks have ended")
		if err != nil || s.DryRun {
			return err
		}
		var said []string
		said, err = RollbackReport(s.Name, started, final)
		for _, line := range said {
			s.Say("%s", line)
		}
	}
	if len(refused) == 0 {
		return err
	}
	why := fmt.Sprintf("docker service rollback refused %s: see ./dtx swarm:ps", strings.Join(refused, ", "))
	if err != nil {
		return fmt.Errorf("%w; %s", err, why)
	}
	return errors.New(why)
}

// updateStatuses reads the services' UpdateStatus, and which services
// exist (a missing service has no status).
func (s *Stack) updateStatuses(ctx context.Context, services []string) (map[string]UpdateStatus, map[string]bool) {
	st, existed := map[string]UpdateStatus{}, map[string]bool{}
	for _, name := range services {
		out, err := s.Query(ctx, s.updateStatusCommand(name))
		if err != nil {
			continue
		}
		if u, ok := ParseUpdateStatus(out); ok {
			st[name] = u
			existed[name] = true
		}
	}
	return st, existed
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
// tasks, and the status of a task an update stopped on or that keeps
// stopping.
func (s *Stack) look(ctx context.Context, c *Convergence, start time.Time) (Look, error) {
	l := Look{TaskStatus: map[string]string{}}
	l.Status, _ = s.updateStatuses(ctx, c.Services)
	out, err := s.Query(ctx, s.replicasCommand())
	if err != nil {
		return l, err
	}
	l.Replicas = ParseReplicas(out, s.Name)
	if out, err := s.Query(ctx, s.tasksCommand()); err == nil {
		l.Tasks = ParseTasks(out, s.Name)
	}
	for name, id := range c.Asks(l) {
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

// LogLines is how many of a failed task's last log lines a deploy shows.
const LogLines = 20

// taskLogsCommand prints a task's last log lines, from whichever node ran
// it (the manager asks that node's engine).
func taskLogsCommand(task string) runner.Command {
	return session.Docker("service", "logs", "--tail", strconv.Itoa(LogLines), "--raw", "--no-trunc", task)
}

// showTaskLogs says the last log lines of the task a service's failure is
// told by, masked.
func (s *Stack) showTaskLogs(ctx context.Context, name, task string) {
	out, err := s.QueryBoth(ctx, taskLogsCommand(task))
	l := lines(out)
	if err != nil || len(l) == 0 {
		s.Say("%s: task %s left no log lines (%s)", s.Service(name), task, s.Format(taskLogsCommand(task)))
		return
	}
	s.Say("%s: the last log lines of task %s:", s.Service(name), task)
	for _, line := range l {
		s.Say("    %s", line)
	}
}

func plural(n int, one, more string) string {
	if n == 1 {
		return one
	}
	return more
}

// indent indents every line of text by four spaces, for a block in the log.
func indent(text string) string {
	return "    " + strings.ReplaceAll(strings.TrimSuffix(text, "\n"), "\n", "\n    ") + "\n"
}
