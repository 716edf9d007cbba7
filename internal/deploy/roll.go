package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/roles"
)

// Roll is one roll's containers: those each replaced service ran before
// it, and the new ones it created. Its methods are the roll's decisions.
type Roll struct {
	Services []roles.Service        // in the order they are replaced
	Old      map[string][]Container // service -> its running containers before the roll
	Fresh    map[string]Container   // service -> the container the roll created
}

// NewRoll starts the roll of services over running.
func NewRoll(services []roles.Service, running []Container) Roll {
	r := Roll{Services: services, Old: map[string][]Container{}, Fresh: map[string]Container{}}
	for _, svc := range services {
		r.Old[svc.Name] = Of(running, svc.Name)
	}
	return r
}

// Scales are the new container of each service, beside its old ones.
func (r Roll) Scales() []Scale {
	out := make([]Scale, len(r.Services))
	for i, svc := range r.Services {
		out[i] = Scale{Service: svc.Name, Running: len(r.Old[svc.Name])}
	}
	return out
}

// Added is the container of service that compose created (state
// "created") in now, the stack after `compose create`, and that was not
// there before the roll.
func (r Roll) Added(now []Container, service string) (Container, bool) {
	for _, c := range now {
		if c.Service != service || c.OneOff() || c.State != "created" {
			continue
		}
		if !slices.ContainsFunc(r.Old[service], func(o Container) bool { return o.ID == c.ID }) {
			return c, true
		}
	}
	return Container{}, false
}

// OldPins pin each routed service that runs to one of its old containers,
// so that the new ones get no request before they are up: a healthy one
// (an earlier deploy that was killed may have left one that is not), the
// first otherwise.
func (r Roll) OldPins() map[string]string {
	pins := map[string]string{}
	for _, svc := range r.Services {
		old := r.Old[svc.Name]
		if svc.Role != roles.Routed || len(old) == 0 {
			continue
		}
		pick := old[0]
		if i := slices.IndexFunc(old, func(c Container) bool { return c.Health == "healthy" }); i >= 0 {
			pick = old[i]
		}
		pins[svc.Name] = pick.Name
	}
	return pins
}

// FreshPins pin each routed service to its new container.
func (r Roll) FreshPins() map[string]string {
	pins := map[string]string{}
	for _, svc := range r.Services {
		if c, ok := r.Fresh[svc.Name]; ok && svc.Role == roles.Routed {
			pins[svc.Name] = c.Name
		}
	}
	return pins
}

// stopFirst tells whether svc's old container stops before its new one
// starts.
func stopFirst(svc roles.Service) bool {
	return svc.Role == roles.Worker && svc.Update == roles.StopFirst
}

// StartFirst are the new containers that start beside the old ones: the
// routed services' and the start-first workers'.
func (r Roll) StartFirst() []Container {
	var out []Container
	for _, svc := range r.Services {
		if c, ok := r.Fresh[svc.Name]; ok && !stopFirst(svc) {
			out = append(out, c)
		}
	}
	return out
}

// StopFirst are the new containers of the stop-first workers and the old
// ones that stop before they start.
func (r Roll) StopFirst() (fresh, old []Container) {
	for _, svc := range r.Services {
		if !stopFirst(svc) {
			continue
		}
		if c, ok := r.Fresh[svc.Name]; ok {
			fresh = append(fresh, c)
		}
		old = append(old, r.Old[svc.Name]...)
	}
	return fresh, old
}

// Discarded are the IDs of the new containers, removed when the roll
// fails: the old ones keep serving.
func (r Roll) Discarded() []string {
	var ids []string
	for _, svc := range r.Services {
		if c, ok := r.Fresh[svc.Name]; ok {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Drained are the IDs of the old containers that still run once every new
// one is up: the routed services' and the start-first workers', stopped
// (SIGTERM: they finish their requests) once the proxy moved away.
func (r Roll) Drained() []string {
	var ids []string
	for _, svc := range r.Services {
		if !stopFirst(svc) {
			for _, c := range r.Old[svc.Name] {
				ids = append(ids, c.ID)
			}
		}
	}
	return ids
}

// Retired are the IDs of every old container, removed at the end.
func (r Roll) Retired() []string {
	var ids []string
	for _, svc := range r.Services {
		for _, c := range r.Old[svc.Name] {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// ids are the IDs of cs.
func ids(cs []Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// rollState is what a roll under way changed, for its undo.
type rollState struct {
	Roll
	created       bool // compose create ran (perhaps cut short)
	pinned        bool // the proxy is pinned (to the old or new containers)
	stopFirstDown bool // the stop-first workers' old containers were stopped
	proxy         string
}

// roll replaces plan.Replace without a failed request, all or nothing:
//
//   - the proxy is pinned to the old containers of the routed services
//     (Docker's DNS lists a new container under its service's name as
//     soon as it starts, before its health check passes);
//   - one new container of every replaced service is created at once;
//   - the routed services' and the start-first workers' start beside the
//     old ones, and must be up (healthy, or running for Settle without a
//     health check): the wait wakes on docker events and fails as soon as
//     one is unhealthy or stops;
//   - then each stop-first worker's old container stops and its new one
//     starts and must be up;
//   - the proxy is pinned to the new containers (a graceful reload), the
//     old ones stop (SIGTERM: they finish their requests) and go, and the
//     proxy returns to the services' names, which now name only the new
//     containers (unless it is recreated next, which does the same).
//
// If anything fails before the proxy moved, every new container goes, the
// stop-first workers' old ones start again and the proxy returns to the
// services' names: the old version keeps serving. The undo runs on a
// context of its own (Ctrl-C ended the deploy's).
func (d *deployer) roll(ctx context.Context, plan Plan, running []Container) (err error) {
	s := &rollState{Roll: NewRoll(plan.Replace, running)}
	defer func() {
		if err != nil && !errors.Is(err, errServed) {
			d.undo(ctx, s)
		}
	}()
	if len(plan.Leftovers) > 0 {
		d.step("leftovers", "removing what an earlier deploy or a user left stopped: %s", containerNames(plan.Leftovers))
		if err := d.Run(ctx, Discard(ids(plan.Leftovers))); err != nil {
			return err
		}
	}
	if len(plan.Start) > 0 {
		d.step("start", "starting %s, which do not run", strings.Join(plan.Start, ", "))
		if err := d.Run(ctx, d.versioned(StartServicesArgs(plan.Start, d.wait)...)); err != nil {
			return err
		}
	}
	proxy := d.proxyContainer(running)
	s.proxy = proxy
	// Pinning the proxy and creating the new containers do not wait for
	// each other (a created container is in no DNS answer until it
	// starts): they run at once, and both end before anything starts.
	var pinOld, create func() error
	if pins := s.OldPins(); len(pins) > 0 && proxy != "" {
		s.pinned = true
		pinOld = d.concurrent("pin-old", fmt.Sprintf("pinning the proxy to the old containers of %s", strings.Join(keys(pins), ", ")), func() error {
			return d.reload(ctx, proxy, pins)
		})
	}
	if len(s.Services) > 0 {
		s.created = true
		create = d.concurrent("create", "creating a new container of "+strings.Join(roles.Names(s.Services), ", "), func() error {
			return d.Run(ctx, d.versioned(CreateArgs(s.Scales())...))
		})
	}
	if err := errors.Join(await(pinOld), await(create)); err != nil {
		return err
	}
	if len(s.Services) > 0 {
		if err := d.replace(ctx, s, proxy); err != nil {
			return err
		}
	}
	// The new version serves: from here on, the deploy goes on to its end
	// even if interrupted (the old containers are retired, the proxy
	// unpinned), on a context of its own.
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	if drained := s.Drained(); len(drained) > 0 {
		d.step("drain", "stopping the old containers (they finish their requests first)")
		if err := d.Run(ctx, Drain(drained)); err != nil {
			return d.served(err)
		}
	}
	if retired := s.Retired(); len(retired) > 0 {
		if err := d.Run(ctx, Remove(retired)); err != nil {
			return d.served(err)
		}
	}
	if (s.pinned || plan.Unpin) && proxy != "" && plan.Proxy == nil {
		d.step("unpin", "returning the proxy to the services' names")
		if err := d.reload(ctx, proxy, nil); err != nil {
			return d.served(err)
		}
	}
	return nil
}

// replace brings the new container of every replaced service up, the
// start-first ones beside the old containers, then the stop-first ones in
// place of theirs; then it pins the proxy to the new routed containers.
func (d *deployer) replace(ctx context.Context, s *rollState, proxy string) error {
	if err := d.fresh(ctx, &s.Roll); err != nil {
		return err
	}
	if first := s.StartFirst(); len(first) > 0 {
		d.step("start-new", "starting the new containers beside the old ones")
		since := d.Now().Add(-time.Second) // the engine stamps events by its own clock
		if err := d.Run(ctx, Start(ids(first))); err != nil {
			return err
		}
		d.step("healthy", "waiting until the new containers are up, %s at most", d.wait)
		if err := d.await(ctx, first, since); err != nil {
			return d.explainNotUp(err, false)
		}
	}
	if fresh, old := s.StopFirst(); len(fresh) > 0 {
		d.step("stop-first", "stopping the old containers of the stop-first workers, then starting the new ones")
		if len(old) > 0 {
			s.stopFirstDown = true
			if err := d.Run(ctx, Drain(ids(old))); err != nil {
				return err
			}
		}
		since := d.Now().Add(-time.Second)
		if err := d.Run(ctx, Start(ids(fresh))); err != nil {
			return err
		}
		if err := d.await(ctx, fresh, since); err != nil {
			return d.explainNotUp(err, s.stopFirstDown)
		}
	}
	if pins := s.FreshPins(); len(pins) > 0 && proxy != "" {
		d.step("pin-new", "pinning the proxy to the new containers")
		s.pinned = true
		if err := d.reload(ctx, proxy, pins); err != nil {
			return err
		}
	}
	return nil
}

// errServed marks a failure after the new version took over: it is not
// undone.
var errServed = errors.New("the new version serves")

func (d *deployer) served(err error) error {
	return fmt.Errorf("%w, but the deploy could not finish: %w; the next prod:deploy finishes it", errServed, err)
}

// undo takes a failed roll back: every new container goes (compose create
// may have made some the roll does not know yet if it was cut short), the
// stop-first workers' old containers start again and the proxy returns to
// the services' names. A failure after the new version took over is not
// undone.
func (d *deployer) undo(ctx context.Context, s *rollState) {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	if d.DryRun {
		return
	}
	if s.created {
		if now, err := containers(ctx, d.Stack); err == nil {
			for _, svc := range s.Services {
				if c, ok := s.Added(now, svc.Name); ok {
					if _, known := s.Fresh[svc.Name]; !known {
						s.Fresh[svc.Name] = c
					}
				}
			}
		}
	}
	if gone := s.Discarded(); len(gone) > 0 {
		d.step("undo", "removing every new container")
		if err := d.RunQuiet(ctx, Discard(gone)); err != nil {
			d.Say("removing the new containers failed too: %v", err)
		}
	}
	if _, old := s.StopFirst(); s.stopFirstDown && len(old) > 0 {
		d.step("undo", "starting the stop-first workers' old containers again")
		if err := d.RunQuiet(ctx, Start(ids(old))); err != nil {
			d.Say("starting the old containers of the stop-first workers again failed too: %v", err)
		}
	}
	if s.pinned && s.proxy != "" {
		d.step("undo", "returning the proxy to the services' names")
		if err := d.reload(ctx, s.proxy, nil); err != nil {
			d.Say("returning the proxy to the services' names failed too: %v", err)
		}
	}
}

// fresh finds the containers compose create added, one a service.
func (d *deployer) fresh(ctx context.Context, r *Roll) error {
	if d.DryRun {
		for _, svc := range r.Services {
			r.Fresh[svc.Name] = Container{ID: "<new " + svc.Name + ">", Name: "<new " + svc.Name + " container>", Service: svc.Name}
		}
		return nil
	}
	now, err := containers(ctx, d.Stack)
	if err != nil {
		return err
	}
	for _, svc := range r.Services {
		c, ok := r.Added(now, svc.Name)
		if !ok {
			return fmt.Errorf("%s: compose created no new container", svc.Name)
		}
		r.Fresh[svc.Name] = c
	}
	return nil
}

// concurrent starts step (saying it, and timing it apart from the steps
// it overlaps) and runs do in the background, at once with what follows;
// the function it returns waits for do's end and returns its error. In a
// dry run do runs before it returns, so that the plan prints in order.
func (d *deployer) concurrent(step, what string, do func() error) func() error {
	d.Say("step %s: %s", step, what)
	end := d.timeline.Span(step)
	if d.DryRun {
		err := do()
		end()
		return func() error { return err }
	}
	done := make(chan error, 1)
	go func() {
		err := do()
		end()
		done <- err
	}()
	return func() error { return <-done }
}

// await waits for a concurrent step; nil is no step.
func await(wait func() error) error {
	if wait == nil {
		return nil
	}
	return wait()
}

// reload runs the proxy's reload with pins (see ReloadArgs).
func (d *deployer) reload(ctx context.Context, proxy string, pins map[string]string) error {
	return d.Run(ctx, Reload(ReloadArgs(proxy, pins, d.site)))
}

// proxyContainer is the proxy's running container in running, "" when it
// does not run.
func (d *deployer) proxyContainer(running []Container) string {
	p, ok := d.site.Proxy()
	if !ok {
		return ""
	}
	if cs := Of(running, p.Name); len(cs) > 0 {
		return cs[0].Name
	}
	return ""
}

// containerNames lists the names of cs, for messages.
func containerNames(cs []Container) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return strings.Join(out, ", ")
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
