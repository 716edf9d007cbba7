package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// healthEvery is how often the roll looks at a new container's health.
const healthEvery = 500 * time.Millisecond

// Roll is one roll's containers: those each service ran before it, and the
// new ones it started so far. Its methods are the roll's decisions.
type Roll struct {
	Services []string               // in the order they are replaced
	Old      map[string][]Container // service -> its running containers before the roll
	Fresh    map[string]Container   // service -> the container the roll started
}

// NewRoll starts the roll of services over running.
func NewRoll(services []string, running []Container) Roll {
	r := Roll{Services: services, Old: map[string][]Container{}, Fresh: map[string]Container{}}
	for _, svc := range services {
		r.Old[svc] = Of(running, svc)
	}
	return r
}

// OldPins pin each service that runs to its first old container, so that
// the new ones get no request until they are healthy.
func (r Roll) OldPins() map[string]string {
	pins := map[string]string{}
	for _, svc := range r.Services {
		if old := r.Old[svc]; len(old) > 0 {
			pins[svc] = old[0].Name
		}
	}
	return pins
}

// FreshPins pin each service to its new container.
func (r Roll) FreshPins() map[string]string {
	pins := map[string]string{}
	for svc, c := range r.Fresh {
		pins[svc] = c.Name
	}
	return pins
}

// Added is the running container of service in now (the stack after the
// scale-up) that was not there before the roll.
func (r Roll) Added(now []Container, service string) (Container, bool) {
	for _, c := range Of(now, service) {
		isOld := false
		for _, o := range r.Old[service] {
			isOld = isOld || o.ID == c.ID
		}
		if !isOld {
			return c, true
		}
	}
	return Container{}, false
}

// Discarded are the containers removed when the roll fails: the new ones
// started so far, in the services' order. The old ones keep serving.
func (r Roll) Discarded() []Container {
	var out []Container
	for _, svc := range r.Services {
		if c, ok := r.Fresh[svc]; ok {
			out = append(out, c)
		}
	}
	return out
}

// Retired are the IDs of the old containers, stopped and removed once
// every new one is healthy and the proxy moved to them.
func (r Roll) Retired() []string {
	var ids []string
	for _, svc := range r.Services {
		for _, c := range r.Old[svc] {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// roll replaces the old containers of services without a dropped request,
// all or nothing. nginx is pinned to the old containers first, so that the
// new ones (which Docker's DNS lists under the service's name as soon as
// they start) get no request before their health checks pass; once every
// new one is healthy, nginx is pinned to them (a graceful reload: its old
// workers finish their requests), the old ones stop (SIGTERM: they finish
// theirs) and go, and nginx returns to the services' names, which now name
// only the new containers. If one new container is not healthy in time,
// every new one is removed and the old version keeps serving.
func (d *deployer) roll(ctx context.Context, services []string, running []Container) error {
	r := NewRoll(services, running)
	if err := d.pinNginx(ctx, r.OldPins()); err != nil {
		return err
	}
	failed := d.startNew(ctx, &r)
	if failed == nil {
		for _, svc := range services {
			if err := d.awaitHealthy(ctx, svc, r.Fresh[svc]); err != nil {
				failed = fmt.Errorf("%s %s was not healthy within %s (%w): the new containers are removed and %s keeps serving; its last log lines are above", svc, d.version, d.wait, err, OrNone(RunningVersion(running)))
				break
			}
		}
	}
	if failed != nil {
		for _, c := range r.Discarded() {
			if err := d.Run(ctx, Discard(c.ID)); err != nil {
				d.Say("removing the new %s container failed too: %v", c.Service, err)
			}
		}
		if err := d.pinNginx(ctx, nil); err != nil {
			d.Say("returning nginx to the services' names failed too: %v", err)
		}
		return failed
	}
	if err := d.pinNginx(ctx, r.FreshPins()); err != nil {
		return err
	}
	if ids := r.Retired(); len(ids) > 0 {
		if err := d.Run(ctx, Drain(ids)); err != nil {
			return err
		}
		if err := d.Run(ctx, Remove(ids)); err != nil {
			return err
		}
	}
	return d.pinNginx(ctx, nil)
}

// startNew starts one new container of each service beside its old ones
// and records it in r.Fresh; it stops at the first failure.
func (d *deployer) startNew(ctx context.Context, r *Roll) error {
	for _, svc := range r.Services {
		if err := d.Run(ctx, d.versioned(ScaleUpArgs(svc, len(r.Old[svc]))...)); err != nil {
			return err
		}
		c, err := d.fresh(ctx, *r, svc)
		if err != nil {
			return err
		}
		r.Fresh[svc] = c
	}
	return nil
}

// pinNginx reloads nginx with each service's upstream on a container (its
// name, which Docker's DNS resolves), and the others' on the service's own
// name; nil pins nothing. The reload is graceful and returns once the old
// workers stopped taking connections (dtx-nginx reload).
func (d *deployer) pinNginx(ctx context.Context, pins map[string]string) error {
	args, err := ReloadArgs(pins, d.nginxEnv)
	if err != nil {
		return err
	}
	return d.Run(ctx, d.versioned(args...))
}

// fresh finds the container the scale-up of service added.
func (d *deployer) fresh(ctx context.Context, r Roll, service string) (Container, error) {
	if d.DryRun {
		return Container{ID: "<new " + service + ">", Name: "<new " + service + " container>", Service: service}, nil
	}
	now, err := containers(ctx, d.Stack)
	if err != nil {
		return Container{}, err
	}
	if c, ok := r.Added(now, service); ok {
		return c, nil
	}
	return Container{}, fmt.Errorf("%s: compose started no new container", service)
}

// awaitHealthy waits until c's health check passes, for d.wait at most; on
// failure it prints the last lines of c's log.
func (d *deployer) awaitHealthy(ctx context.Context, service string, c Container) error {
	state := ""
	wait := session.Wait{What: fmt.Sprintf("the new %s container is healthy, %s at most", service, d.wait), Every: healthEvery, Timeout: d.wait}
	err := d.Poll(ctx, wait, func(ctx context.Context) (bool, error) {
		out, err := d.Query(ctx, InspectHealth(c.ID))
		if err != nil {
			return true, err
		}
		state = strings.TrimSpace(out)
		return ReadHealth(state).Settled(), nil
	})
	switch {
	case d.DryRun:
		return nil
	case err == nil && ReadHealth(state) == Healthy:
		d.Say("%s %s is healthy in %s", service, d.version, c.Name)
		return nil
	case err != nil && !errors.Is(err, session.ErrTimeout):
		return err
	}
	// It stopped running, or -wait passed.
	logs, _ := d.Query(ctx, Logs(c.ID))
	d.Say("the new %s container %s is %q; its last log lines:", service, c.Name, state)
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			d.Say("    %s", l)
		}
	}
	return fmt.Errorf("it is %q", state)
}
