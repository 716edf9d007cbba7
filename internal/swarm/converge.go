package swarm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The convergence decision: from what the manager shows (each service's
// UpdateStatus before the deploy and now, docker service ls's replicas,
// the tasks' errors), when each service's update has ended and how. Pure:
// the run reads, this decides (tested on recorded outputs in testdata/).

// SettleTime is how long a service with no update of its own must wait
// before it counts as running: Swarm starts an update a moment after
// docker stack deploy returns.
const SettleTime = 3 * time.Second

// CrashGrace is how long a service that is not updating may have failed
// tasks before the wait gives up on it.
const CrashGrace = 45 * time.Second

// FailFastRestarts is how many times the task of one slot of a service
// (one replica, or one node of a global service) may stop on its own
// during a wait, while the service has no update of its own (a new one),
// before the wait gives up on it: Swarm would restart it for ever, and a
// task that only fails its health check shows no error to wait for.
const FailFastRestarts = 3

// ErrRolledBack is returned (wrapped) when Swarm rolled an update back;
// ErrNotConverged when a service failed otherwise (a new service whose
// tasks keep failing, an update that paused).
var (
	ErrRolledBack   = errors.New("the update was rolled back")
	ErrNotConverged = errors.New("the release did not converge")
)

// UpdateStatus is a service's UpdateStatus as docker service inspect shows it.
type UpdateStatus struct {
	State     string
	StartedAt string
	Message   string
}

// ParseUpdateStatus reads `docker service inspect --format '{{json
// .UpdateStatus}}'`: "null" (the service never updated) is the zero
// status; ok is false when the output is not JSON.
func ParseUpdateStatus(out string) (u UpdateStatus, ok bool) {
	return u, json.Unmarshal([]byte(strings.TrimSpace(out)), &u) == nil
}

// ParseReplicas reads `docker service ls --format '{{.Name}} {{.Replicas}}'`
// of the stack: running/desired per service, without the stack's prefix.
func ParseReplicas(out, stack string) map[string]string {
	m := map[string]string{}
	for _, line := range lines(out) {
		if name, r, ok := strings.Cut(line, " "); ok && len(strings.Fields(r)) > 0 {
			m[strings.TrimPrefix(name, stack+"_")] = strings.Fields(r)[0]
		}
	}
	return m
}

// Task is one task of the stack as tasksCommand lists it.
type Task struct {
	ID      string
	Name    string // SERVICE.SLOT, with the stack's prefix (NODE for a global service)
	Service string // without the stack's prefix
	Desired string // its desired state: Running, Shutdown…
	// State is the first word of its current state: Running, Starting,
	// Complete, Failed, Rejected, Shutdown…
	State string
	Error string
}

// ParseTasks reads `docker stack ps --no-trunc --format
// '{{.ID}}|{{.Name}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}'`
// (tasks sorted by slot, newest first); lines of another shape are left out.
func ParseTasks(out, stack string) []Task {
	var tasks []Task
	for _, line := range lines(out) {
		f := strings.SplitN(line, "|", 5)
		if len(f) != 5 {
			continue
		}
		t := Task{ID: f[0], Name: f[1], Desired: f[2], Error: strings.TrimSpace(f[4])}
		if state := strings.Fields(f[3]); len(state) > 0 {
			t.State = state[0]
		}
		t.Service, _, _ = strings.Cut(strings.TrimPrefix(t.Name, stack+"_"), ".")
		tasks = append(tasks, t)
	}
	return tasks
}

// ended tells whether a task stopped on its own: it completed, failed or
// was rejected. A task an update or a scale-down replaced ends Shutdown.
// One that failed its health check ends Complete, with no error, when its
// process exits 0 on the SIGTERM Swarm stops it with (most servers do),
// else Failed with "dockerexec: unhealthy container".
func (t Task) ended() bool {
	return t.State == "Complete" || t.State == "Failed" || t.State == "Rejected"
}

// TaskErrors is, per service, "; task NAME: ERROR" for the first task
// listed with an error.
func TaskErrors(tasks []Task) map[string]string {
	m := map[string]string{}
	for _, t := range tasks {
		if _, seen := m[t.Service]; !seen && t.Error != "" {
			m[t.Service] = fmt.Sprintf("; task %s: %s", t.Name, t.Error)
		}
	}
	return m
}

// failedTasks is, per service, the first task listed with an error (the
// newest of its slot): the one TaskErrors names.
func failedTasks(tasks []Task) map[string]Task {
	m := map[string]Task{}
	for _, t := range tasks {
		if _, seen := m[t.Service]; !seen && t.Error != "" {
			m[t.Service] = t
		}
	}
	return m
}

// LastErrors is, per service of the tasks, its last task error as
// "TASK (STATE): ERROR", for swarm:ps; services with none are left out.
func LastErrors(tasks []Task) map[string]string {
	m := map[string]string{}
	for svc, t := range failedTasks(tasks) {
		m[svc] = fmt.Sprintf("%s %s (%s): %s", t.Name, t.ID, strings.ToLower(t.State), t.Error)
	}
	return m
}

// RollbackTask is the ID of the task a rollback or pause message names
// ("update rolled back due to failure or early termination of task ID"),
// "" when it names none.
func RollbackTask(message string) string {
	i := strings.LastIndex(message, "task ")
	if i < 0 {
		return ""
	}
	id := strings.Fields(message[i+len("task "):])
	if len(id) == 0 {
		return ""
	}
	return id[0]
}

// ParseTask reads the task inspection of taskCommand: its "STATE: ERROR"
// and the ID of its container ("" when it had none).
func ParseTask(out string) (status, container string) {
	status, container, _ = strings.Cut(strings.TrimSpace(out), "|")
	return status, container
}

// TaskStatus is what a reason says of the task an update stopped on:
// " (task ID: STATE: ERROR; its health check…)", from ParseTask's status
// and the Health of its container ("" when unknown).
func TaskStatus(id, status, health string) string {
	return fmt.Sprintf(" (task %s: %s%s)", id, status, health)
}

// Health is "; its health check: STATUS, last run exit N OUTPUT" from a
// container's `{{json .State.Health}}`, "" when it has no health check.
// OUTPUT is clipped; the caller masks it.
func Health(out string) string {
	var h struct {
		Status string
		Log    []struct {
			ExitCode int
			Output   string
		}
	}
	if json.Unmarshal([]byte(out), &h) != nil || h.Status == "" {
		return ""
	}
	msg := "; its health check: " + h.Status
	if n := len(h.Log); n > 0 {
		last := h.Log[n-1]
		msg += fmt.Sprintf(", last run exit %d", last.ExitCode)
		if o := strings.TrimSpace(last.Output); o != "" {
			msg += " " + clip(strings.Join(strings.Fields(o), " "))
		}
	}
	return msg
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// Outcome is how a service's update ended: its UpdateStatus state (or
// "running": no update was needed; "failing": a new service whose tasks
// keep failing) and why, when it failed.
type Outcome struct {
	State  string
	Reason string
	// Task is the ID of the task the failure is told by (the one an
	// update stopped on, the newest of those that keep stopping), whose
	// last log lines the deploy shows; "" when none.
	Task string
}

// Look is what one look at the manager found.
type Look struct {
	Since    time.Duration           // since the wait began
	Status   map[string]UpdateStatus // per service that has one
	Replicas map[string]string       // running/desired per service
	// Tasks are the stack's tasks (ParseTasks).
	Tasks []Task
	// TaskStatus is, per service whose update stopped on a task, or whose
	// tasks keep stopping (see Convergence.Asks), " (task ID: STATE:
	// ERROR; its health check…)".
	TaskStatus map[string]string
}

// Convergence follows the services of one wait from look to look: each
// service's update (one that started after Before was read) until it ends,
// or, for a service with no update, until its tasks all run. Swarm's
// reason for a rollback is in its UpdateStatus only while the rollback
// runs ("update rolled back due to failure or early termination of task
// …"), so it is kept when seen, with that task's own status.
type Convergence struct {
	Services []string
	Before   map[string]UpdateStatus
	Final    map[string]Outcome // how each ended service ended
	reasons  map[string]string  // the kept reasons
	tasks    map[string]string  // the tasks the kept reasons name
	// old are the tasks that had stopped by the first look: not this
	// wait's restarts.
	old map[string]bool
}

// NewConvergence starts following services from their statuses before.
func NewConvergence(services []string, before map[string]UpdateStatus) *Convergence {
	return &Convergence{Services: services, Before: before, Final: map[string]Outcome{}, reasons: map[string]string{}, tasks: map[string]string{}}
}

// changed tells whether service name has an update that started after
// Before was read.
func (c *Convergence) changed(name string, status map[string]UpdateStatus) (UpdateStatus, bool) {
	u, had := status[name]
	b := c.Before[name]
	return u, had && u.StartedAt != "" && u != b && u.StartedAt != b.StartedAt
}

// restarts are, per service, the tasks of its slot that stopped on their
// own most often during this wait, newest first.
func (c *Convergence) restarts(tasks []Task) map[string][]Task {
	if c.old == nil {
		c.old = map[string]bool{}
		for _, t := range tasks {
			if t.ended() {
				c.old[t.ID] = true
			}
		}
	}
	bySlot := map[string][]Task{}
	for _, t := range tasks {
		if t.ended() && !c.old[t.ID] {
			bySlot[t.Name] = append(bySlot[t.Name], t)
		}
	}
	m := map[string][]Task{}
	for _, slot := range sortedKeys(bySlot) {
		if list := bySlot[slot]; len(list) > len(m[list[0].Service]) {
			m[list[0].Service] = list
		}
	}
	return m
}

// Asks names, per pending service, the task whose status a look must
// bring (Look.TaskStatus), from the look's statuses and tasks: the one its
// update stopped on, the first time the status says so, or the newest of
// its tasks that keep stopping once they are FailFastRestarts.
func (c *Convergence) Asks(l Look) map[string]string {
	ask := map[string]string{}
	restarts := c.restarts(l.Tasks)
	for _, name := range c.Services {
		if _, done := c.Final[name]; done || c.reasons[name] != "" {
			continue
		}
		u, changed := c.changed(name, l.Status)
		switch {
		case changed && strings.Contains(u.Message, "due to"):
			if id := RollbackTask(u.Message); id != "" {
				ask[name] = id
			}
		case !changed && len(restarts[name]) >= FailFastRestarts:
			ask[name] = restarts[name][0].ID
		}
	}
	return ask
}

// Step decides on one look and returns the services still pending (none:
// every outcome is in Final).
func (c *Convergence) Step(l Look) (pending []string) {
	restarts := c.restarts(l.Tasks)
	taskErrors := TaskErrors(l.Tasks)
	for _, name := range c.Services {
		if _, done := c.Final[name]; done {
			continue
		}
		u, changed := c.changed(name, l.Status)
		if changed && c.reasons[name] == "" && strings.Contains(u.Message, "due to") {
			c.reasons[name] = u.Message + l.TaskStatus[name]
			c.tasks[name] = RollbackTask(u.Message)
		}
		switch {
		case changed && (u.State == "updating" || u.State == "rollback_started"):
			pending = append(pending, name)
		case changed:
			r, task := c.reasons[name], c.tasks[name]
			if r == "" {
				r, task = u.Message+taskErrors[name], failedTasks(l.Tasks)[name].ID
			}
			c.Final[name] = Outcome{State: u.State, Reason: r, Task: task}
		case fullyRunning(l.Replicas[name]) && l.Since > SettleTime:
			// No update started within SettleTime: the service is new or
			// its tasks did not change.
			c.Final[name] = Outcome{State: "running"}
		case len(restarts[name]) >= FailFastRestarts:
			// A new service whose tasks keep stopping (no update to roll
			// back): Swarm would restart them for ever.
			newest := restarts[name][0]
			why := l.TaskStatus[name]
			if why == "" {
				why = TaskStatus(newest.ID, strings.ToLower(newest.State)+": "+newest.Error, "")
			}
			c.Final[name] = Outcome{State: "failing", Reason: fmt.Sprintf("its task %s stopped %d times since the deploy began, the last%s", newest.Name, len(restarts[name]), why), Task: newest.ID}
		case l.Since > CrashGrace && taskErrors[name] != "":
			// A new service whose tasks keep failing with an error, as
			// above, from fewer restarts (a long restart delay).
			c.Final[name] = Outcome{State: "failing", Reason: "its tasks keep failing" + taskErrors[name], Task: failedTasks(l.Tasks)[name].ID}
		default:
			pending = append(pending, name)
		}
	}
	return pending
}

func fullyRunning(r string) bool {
	running, desired, ok := strings.Cut(r, "/")
	return ok && running == desired && desired != "0"
}

// Report is what a deploy says of each service's outcome (what: "version
// 1.2.3"), in order, and ErrRolledBack with the reasons when one failed.
func Report(stack string, services []string, final map[string]Outcome, what string) (said []string, err error) {
	var failed []string
	cause := ErrNotConverged
	for _, name := range services {
		o, svc := final[name], stack+"_"+name
		switch o.State {
		case "completed":
			said = append(said, fmt.Sprintf("%s: updated to %s", svc, what))
		case "running":
			said = append(said, fmt.Sprintf("%s: running at %s (no rolling update was needed)", svc, what))
		case "rollback_completed":
			said = append(said, fmt.Sprintf("%s: ROLLED BACK: %s", svc, o.Reason))
			failed = append(failed, fmt.Sprintf("%s rolled back: %s", svc, o.Reason))
			cause = ErrRolledBack
		default:
			said = append(said, fmt.Sprintf("%s: %s: %s", svc, stateWords(o.State), o.Reason))
			failed = append(failed, fmt.Sprintf("%s %s: %s", svc, stateWords(o.State), o.Reason))
			if strings.HasPrefix(o.State, "rollback_") {
				cause = ErrRolledBack
			}
		}
	}
	if len(failed) > 0 {
		return said, fmt.Errorf("%w: %s", cause, strings.Join(failed, "; "))
	}
	return said, nil
}

// RollbackReport is what a rollback says of each service (back to its
// previous spec), and an error naming those whose rollback did not end so.
func RollbackReport(stack string, services []string, final map[string]Outcome) (said []string, err error) {
	var bad []string
	for _, name := range services {
		switch o, svc := final[name], stack+"_"+name; o.State {
		case "rollback_completed", "running":
			said = append(said, svc+": rolled back to its previous spec")
		default:
			bad = append(bad, fmt.Sprintf("%s: %s %s", svc, stateWords(o.State), o.Reason))
		}
	}
	if len(bad) > 0 {
		return said, fmt.Errorf("rollback did not complete: %s: see ./dtx swarm:ps", strings.Join(bad, "; "))
	}
	return said, nil
}

func stateWords(state string) string { return strings.ReplaceAll(state, "_", " ") }

// lines splits a command's output into its non-empty lines, trimmed.
func lines(out string) []string {
	var l []string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			l = append(l, line)
		}
	}
	return l
}
