package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// lookEvery bounds how long the wait for new containers trusts docker
// events alone: it looks at them this often too, in case the stream
// broke.
const lookEvery = 2 * time.Second

// eventsSegment is how long one docker events command streams (--until);
// the watcher starts the next one where it ended. A deploy killed with -9
// leaves its children behind: its last one ends within this.
const eventsSegment = 30 * time.Second

// watcher hands the wait the containers docker events spoke of: the wait
// looks at a container when its state changes instead of every so often.
type watcher struct {
	mu   sync.Mutex
	seen []string // IDs since the last next
	wake chan struct{}
	stop func()
}

// watch streams the events of the stack's containers from since on (see
// EventsArgs), one segment after another, until stop.
func (d *deployer) watch(ctx context.Context, since time.Time) *watcher {
	w := &watcher{wake: make(chan struct{}, 1), stop: func() {}}
	if d.DryRun {
		return w
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for from := since; ctx.Err() == nil; {
			until := d.Now().Add(eventsSegment)
			stop, ended := d.Watch(ctx, Events(EventsArgs(d.Project.Name, from, until)), w.saw)
			select {
			case <-ended:
			case <-ctx.Done():
			}
			stop()
			// The engine stamps events by its own clock, to the nanosecond:
			// a second of overlap loses none (a repeat only wakes the wait).
			from = until.Add(-time.Second)
			if d.Now().Before(until) && ctx.Err() == nil {
				// It ended early (the engine went away?): not at once again.
				select {
				case <-d.After(lookEvery):
				case <-ctx.Done():
				}
			}
		}
	}()
	w.stop = func() {
		cancel()
		<-done
	}
	return w
}

// saw takes one line of docker events.
func (w *watcher) saw(line string) {
	id, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	if id == "" {
		return
	}
	w.mu.Lock()
	w.seen = append(w.seen, id)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// next waits until docker events says something, at most wait (on
// after, the session's clock), and returns the IDs of the containers it
// spoke of since the last call.
func (w *watcher) next(ctx context.Context, after func(time.Duration) <-chan time.Time, wait time.Duration) []string {
	if wait > 0 {
		select {
		case <-w.wake:
		case <-after(wait):
		case <-ctx.Done():
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := w.seen
	w.seen = nil
	return ids
}

// notUp is a new container that was not up: it failed (Docker says it is
// unhealthy, it stopped or restarted) or the wait ran out of time.
type notUp struct {
	Container Container
	State     State
	TimedOut  bool
	After     time.Duration // since the wait began
	Checks    []string      // its last health checks (HealthChecks), once shown
}

func (e *notUp) Error() string {
	if e.TimedOut {
		return fmt.Sprintf("the new %s container was not up in time (it is %s)", e.Container.Service, e.State)
	}
	return fmt.Sprintf("the new %s container is %s", e.Container.Service, e.State)
}

// await waits until every container of cs, started since since, is up
// (State.Judge), d.wait at most: it looks at them all at once, then again
// whenever docker events speak of one of them (it started, died or its health changed), when a
// container without a health check has run for Settle, and every
// lookEvery at least. It fails at once when one is not up for good, with
// its last log lines printed.
func (d *deployer) await(ctx context.Context, cs []Container, since time.Time) error {
	w := d.watch(ctx, since)
	defer w.stop()
	pending := slices.Clone(cs)
	began := d.Now()
	var failed *notUp
	var states map[string]State
	first := true
	wait := session.Wait{What: fmt.Sprintf("%s are up, %s at most", names(cs), d.wait), Every: time.Millisecond, Timeout: d.wait}
	err := d.Poll(ctx, wait, func(ctx context.Context) (bool, error) {
		if !first {
			block := min(lookEvery, began.Add(d.wait).Sub(d.Now()))
			for _, c := range pending {
				if _, next := states[c.ID].Judge(d.Now()); next > 0 {
					block = min(block, next)
				}
			}
			w.next(ctx, d.After, block) // whatever it spoke of, every pending container is looked at: one docker inspect
		}
		first = false
		states = d.states(ctx, pending)
		var still []Container
		for _, c := range pending {
			st := states[c.ID]
			switch v, _ := st.Judge(d.Now()); v {
			case Ready:
				how := "healthy"
				if st.Health == "" {
					how = fmt.Sprintf("running for %s without a health check", Settle)
				}
				d.Say("%s %s is up in %s: %s", c.Service, d.version, c.Name, how)
			case Down:
				failed = &notUp{Container: c, State: st, After: d.Now().Sub(began)}
				return true, failed
			default:
				still = append(still, c)
			}
		}
		pending = still
		return len(pending) == 0, nil
	})
	switch {
	case err == nil || d.DryRun:
		return nil
	case failed == nil && errors.Is(err, session.ErrTimeout) && len(pending) > 0:
		failed = &notUp{Container: pending[0], State: states[pending[0].ID], TimedOut: true, After: d.Now().Sub(began)}
	case failed == nil:
		return err
	}
	d.showLogs(ctx, failed)
	return failed
}

// states asks docker for the state of cs, in one call when it can.
func (d *deployer) states(ctx context.Context, cs []Container) map[string]State {
	out := map[string]State{}
	if len(cs) == 0 {
		return out
	}
	all := []string{"inspect", "--format", HealthFormat}
	text, err := d.Query(ctx, session.Docker(append(all, ids(cs)...)...))
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if err == nil && len(lines) == len(cs) {
		for i, c := range cs {
			out[c.ID] = ReadState(lines[i])
		}
		return out
	}
	// One is gone (removed by hand, say): ask one by one.
	for _, c := range cs {
		text, err := d.Query(ctx, InspectState(c.ID))
		if err != nil {
			out[c.ID] = State{}
			continue
		}
		out[c.ID] = ReadState(text)
	}
	return out
}

// showLogs prints the last log lines and health checks of a container
// that was not up.
func (d *deployer) showLogs(ctx context.Context, e *notUp) {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	logs, _ := d.Query(ctx, Logs(e.Container.ID))
	d.Say("the new %s container %s is %s; its last log lines:", e.Container.Service, e.Container.Name, e.State)
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			d.Say("    %s", l)
		}
	}
	if checks, err := d.Query(ctx, HealthLog(e.Container.ID)); err == nil && strings.TrimSpace(checks) != "" {
		d.Say("  its last health checks (exit status, output):")
		e.Checks = HealthChecks(checks)
		for _, l := range e.Checks {
			d.Say("    %s", l)
		}
	}
}

// HealthChecks reads docker inspect's output with HealthLogFormat into
// one line a check: its exit status and its output on one line.
func HealthChecks(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		code, output, ok := strings.Cut(strings.TrimSpace(l), " ")
		if !ok {
			continue
		}
		var text string
		if json.Unmarshal([]byte(output), &text) != nil {
			text = output
		}
		lines = append(lines, code+": "+strings.Join(strings.Fields(text), " "))
	}
	return lines
}

// explainNotUp words a roll's failure for the error line: which service,
// what Docker said, and that the old version keeps serving (restarted:
// the stop-first workers' old containers start again).
func (d *deployer) explainNotUp(err error, restarted bool) error {
	var e *notUp
	if !errors.As(err, &e) {
		return err
	}
	what := fmt.Sprintf("%s %s", e.Container.Service, d.version)
	switch {
	case e.TimedOut:
		what += fmt.Sprintf(" was not healthy within %s (it is %s)", d.wait, e.State)
	case e.State.Status == "running" && e.State.Health == "unhealthy":
		what += fmt.Sprintf(" turned unhealthy %s after it started (Docker says so once its health check failed its retries)", e.After.Round(100*time.Millisecond))
	case e.State.Status == "":
		what += " was removed while the deploy waited for it"
	default:
		what += fmt.Sprintf(" stopped %s after it started (it is %s)", e.After.Round(100*time.Millisecond), e.State)
	}
	if ChecksTimedOut(e.Checks) {
		what += "; its last health checks all timed out, which a machine too loaded to run them in time also causes"
	}
	kept := "the new containers are removed and " + d.before + " keeps serving"
	switch {
	case d.before == "":
		kept = "the new containers are removed: nothing of " + d.version + " is left"
	case restarted:
		kept = "the new containers are removed, the old ones of the stop-first workers start again, and " + d.before + " keeps serving"
	}
	return fmt.Errorf("%s: %s; its last log lines are above", what, kept)
}

// names lists the services of cs, for messages.
func names(cs []Container) string {
	var out []string
	for _, c := range cs {
		if !slices.Contains(out, c.Service) {
			out = append(out, c.Service)
		}
	}
	return "the new containers of " + strings.Join(out, ", ")
}

// ChecksTimedOut tells whether every one of a container's last health
// checks (HealthChecks) timed out rather than answered.
func ChecksTimedOut(checks []string) bool {
	for _, c := range checks {
		if !strings.Contains(c, "exceeded timeout") {
			return false
		}
	}
	return len(checks) > 0
}
