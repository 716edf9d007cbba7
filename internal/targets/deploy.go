package targets

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/deploy"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// The stack prod:deploy, prod:status and prod:rollback act on: the one whose
// images are pinned to VERSION.
const deployEnvironment = "release"

// DefaultDeployWait is how long a new container gets to become healthy.
const DefaultDeployWait = 120 * time.Second

// drainSeconds is how long an old container gets to finish its requests
// after SIGTERM before it is killed.
const drainSeconds = "30"

// Deploy deploys version (docker/.env.release's VERSION when empty) on the
// release stack without dropping a request: see deployer.run.
func Deploy(ctx context.Context, o *session.Session, version string, wait time.Duration) error {
	d, err := newDeployer(ctx, o, version, wait)
	if err != nil {
		return err
	}
	return d.apply(ctx, deploy.Deployed)
}

// Rollback deploys the version that ran before the current one, the same way.
func Rollback(ctx context.Context, o *session.Session, wait time.Duration) error {
	s, err := o.Open(deployEnvironment)
	if err != nil {
		return err
	}
	records, err := deploy.Read(filepath.Join(s.Root, stack.DeployLog))
	if err != nil {
		return err
	}
	running, _ := containers(ctx, s)
	current := deploy.RunningVersion(running)
	if current == "" && len(records) > 0 {
		current = records[len(records)-1].Version
	}
	previous, ok := deploy.Previous(records, current)
	if !ok {
		return fmt.Errorf("no earlier good deploy than %s in %s: name the version to go back to with ./dtx prod:deploy -version=X.Y.Z", orNone(current), stack.DeployLog)
	}
	s.Say("rolling back from %s to %s, the previous good deploy", current, previous)
	d, err := newDeployer(ctx, o, previous, wait)
	if err != nil {
		return err
	}
	return d.apply(ctx, deploy.RolledBack)
}

func orNone(v string) string {
	if v == "" {
		return "(nothing runs)"
	}
	return v
}

// deployer is one deploy of the release stack.
type deployer struct {
	*session.Stack
	nginxEnv map[string]string // nginx's environment as compose resolves it (its upstreams)
	version  string
	wait     time.Duration
	want     map[string]string // service -> image at version
	images   []stack.Image
}

func newDeployer(ctx context.Context, o *session.Session, version string, wait time.Duration) (*deployer, error) {
	s, err := o.Open(deployEnvironment)
	if err != nil {
		return nil, err
	}
	if version == "" {
		if version, err = s.Env.Version(); err != nil {
			return nil, err
		}
	} else if err := deploy.CheckVersion(version); err != nil {
		return nil, fmt.Errorf("-version=%w", err)
	}
	if wait <= 0 {
		wait = DefaultDeployWait
	}
	model, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	d := &deployer{Stack: s, version: version, wait: wait, want: map[string]string{}, nginxEnv: map[string]string{}}
	// The project images the release stack runs; each is its service.
	d.images = stack.ImagesInRefs(s.Env.Registry(), compose.ImageRefs(model))
	for _, img := range d.images {
		d.want[img.Name] = img.Ref(s.Env.Registry(), version)
	}
	if nginx, ok := model.Services["nginx"]; ok {
		for k, v := range nginx.Environment {
			if v != nil {
				d.nginxEnv[k] = *v
			}
		}
	}
	return d, nil
}

// containers lists the stack's containers (a read-only query, also in a dry
// run; without an engine a dry run plans as if nothing ran).
func containers(ctx context.Context, s *session.Stack) ([]deploy.Container, error) {
	out, err := s.Query(ctx, s.ComposeCommand("ps", "--all", "--format", "json"))
	if err != nil {
		return nil, s.Explain(ctx, s.ComposeCommand("ps"), err)
	}
	return deploy.ParsePs([]byte(out))
}

// versioned is a compose command of the project with VERSION set to the
// deploy's, which wins over the env files (and reaches the containers
// through the env override).
func (d *deployer) versioned(args ...string) runner.Command {
	c := d.ComposeCommand(args...)
	c.Env = append(c.Env, "VERSION="+d.version)
	return c
}

// apply is the deploy: pull every image first (a failed pull touches
// nothing), run PRE_DEPLOY in a one-off container of the new backend, then
// on an empty server start the stack and wait; else replace frontend and
// backend beside the old containers (roll) and recreate nginx only when its
// own image changed. Each deploy that changes something is recorded.
func (d *deployer) apply(ctx context.Context, outcome string) error {
	running, err := containers(ctx, d.Stack)
	if err != nil {
		if !d.DryRun {
			return err
		}
		d.Say("[dry-run] the stack's containers are unknown (%v): planning as on an empty server", err)
	}
	plan := deploy.NewPlan(d.version, running, d.want)
	if plan.Nothing {
		d.Say("%s already runs every service of the release stack: nothing to do", d.version)
		return nil
	}
	start := d.Now()
	record := deploy.Record{Time: start.UTC(), Version: d.version, Previous: plan.Running, Outcome: outcome}
	fail := func(err error) error {
		record.Outcome, record.Reason = deploy.Failed, err.Error()
		d.record(record, start)
		return err
	}
	if plan.First {
		d.Say("deploying %s on an empty server: starting the release stack", d.version)
	} else {
		d.Say("deploying %s over %s", d.version, plan.Running)
	}
	for _, img := range d.images {
		if err := d.Run(ctx, session.Docker("pull", d.want[img.Name])); err != nil {
			return fail(fmt.Errorf("pulling %s failed, so nothing was changed: %w", d.want[img.Name], err))
		}
	}
	// Every version tags every image: nginx's tag changes with each release
	// while its image mostly does not. Recreate it only for another image.
	if plan.Nginx && !plan.First && d.sameImage(ctx, deploy.Of(running, "nginx"), d.want["nginx"]) {
		plan.Nginx = false
		if len(plan.Roll) == 0 {
			d.Say("%s already runs every service (nginx's image is the same under its new tag): nothing to do", d.version)
			return nil
		}
	}
	if !plan.First {
		d.Say("%s", plan.Describe())
	}
	if err := d.Prepare(ctx); err != nil {
		return fail(err)
	}
	if err := d.preDeploy(ctx); err != nil {
		return fail(err)
	}
	if plan.First {
		if err := d.Run(ctx, d.versioned("up", "--detach", "--wait", "--wait-timeout", seconds(d.wait), "--remove-orphans")); err != nil {
			return fail(err)
		}
	}
	if len(plan.Roll) > 0 {
		if err := d.roll(ctx, plan.Roll, running); err != nil {
			return fail(err)
		}
	}
	if plan.Nginx {
		t0 := time.Now()
		if err := d.Run(ctx, d.versioned("up", "--detach", "--no-deps", "--wait", "--wait-timeout", seconds(d.wait), "nginx")); err != nil {
			return fail(err)
		}
		if !d.DryRun {
			d.Say("nginx recreated with its %s image in %s: connections to it failed meanwhile", d.version, time.Since(t0).Round(100*time.Millisecond))
		}
	}
	record.Digests = d.digests(ctx)
	d.record(record, start)
	if !d.DryRun {
		d.Say("%s deployed in %s", d.version, d.Now().Sub(start).Round(100*time.Millisecond))
	}
	return nil
}

// preDeploy runs PRE_DEPLOY (python manage.py migrate, say), split like a
// shell's words, once in a one-off container of the new backend image on
// the stack's network, before any traffic moves.
func (d *deployer) preDeploy(ctx context.Context) error {
	command, _ := d.Env.Get("PRE_DEPLOY")
	if strings.TrimSpace(command) == "" {
		return nil
	}
	words, err := runner.SplitWords(command)
	if err != nil {
		return fmt.Errorf("PRE_DEPLOY: %w", err)
	}
	args := append([]string{"run", "--rm", "-T", "backend"}, words...)
	if err := d.Run(ctx, d.versioned(args...)); err != nil {
		return fmt.Errorf("the pre-deploy command (PRE_DEPLOY) failed in the %s backend, so nothing was switched: %w", d.version, err)
	}
	return nil
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
func (d *deployer) roll(ctx context.Context, services []string, running []deploy.Container) error {
	old := map[string][]deploy.Container{}
	pins := map[string]string{}
	for _, svc := range services {
		old[svc] = deploy.Of(running, svc)
		if len(old[svc]) > 0 {
			pins[svc] = old[svc][0].Name
		}
	}
	if err := d.pinNginx(ctx, pins); err != nil {
		return err
	}
	fresh := map[string]deploy.Container{}
	var failed error
	for _, svc := range services {
		scale := fmt.Sprintf("%s=%d", svc, len(old[svc])+1)
		if err := d.Run(ctx, d.versioned("up", "--detach", "--no-deps", "--no-recreate", "--scale", scale, svc)); err != nil {
			failed = err
			break
		}
		c, err := d.fresh(ctx, svc, old[svc])
		if err != nil {
			failed = err
			break
		}
		fresh[svc] = c
	}
	if failed == nil {
		for _, svc := range services {
			if err := d.awaitHealthy(ctx, svc, fresh[svc]); err != nil {
				failed = fmt.Errorf("%s %s was not healthy within %s (%w): the new containers are removed and %s keeps serving; its last log lines are above", svc, d.version, d.wait, err, orNone(deploy.RunningVersion(running)))
				break
			}
		}
	}
	if failed != nil {
		for _, c := range fresh {
			if err := d.Run(ctx, session.Docker("rm", "--force", c.ID)); err != nil {
				d.Say("removing the new %s container failed too: %v", c.Service, err)
			}
		}
		if err := d.pinNginx(ctx, nil); err != nil {
			d.Say("returning nginx to the services' names failed too: %v", err)
		}
		return failed
	}
	pins = map[string]string{}
	for svc, c := range fresh {
		pins[svc] = c.Name
	}
	if err := d.pinNginx(ctx, pins); err != nil {
		return err
	}
	var ids []string
	for _, svc := range services {
		for _, c := range old[svc] {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) > 0 {
		if err := d.Run(ctx, session.Docker(append([]string{"stop", "--time", drainSeconds}, ids...)...)); err != nil {
			return err
		}
		if err := d.Run(ctx, session.Docker(append([]string{"rm"}, ids...)...)); err != nil {
			return err
		}
	}
	return d.pinNginx(ctx, nil)
}

// pinNginx reloads nginx with each service's upstream on a container (its
// name, which Docker's DNS resolves), and the others' on the service's own
// name; nil pins nothing. The reload is graceful and returns once the old
// workers stopped taking connections (dtx-nginx reload).
func (d *deployer) pinNginx(ctx context.Context, pins map[string]string) error {
	args := []string{"exec", "-T"}
	for _, svc := range deploy.Rolled {
		container, ok := pins[svc]
		if !ok {
			continue
		}
		key := strings.ToUpper(svc) + "_UPSTREAM"
		_, port, found := strings.Cut(d.nginxEnv[key], ":")
		if !found {
			return fmt.Errorf("%s of nginx is %q: want HOST:PORT", key, d.nginxEnv[key])
		}
		args = append(args, "--env", key+"="+container+":"+port)
	}
	return d.Run(ctx, d.versioned(append(args, "nginx", "dtx-nginx", "reload")...))
}

// fresh finds the container the scale-up added.
func (d *deployer) fresh(ctx context.Context, service string, old []deploy.Container) (deploy.Container, error) {
	if d.DryRun {
		return deploy.Container{ID: "<new " + service + ">", Name: "<new " + service + " container>", Service: service}, nil
	}
	now, err := containers(ctx, d.Stack)
	if err != nil {
		return deploy.Container{}, err
	}
	for _, c := range deploy.Of(now, service) {
		isOld := false
		for _, o := range old {
			isOld = isOld || o.ID == c.ID
		}
		if !isOld {
			return c, nil
		}
	}
	return deploy.Container{}, fmt.Errorf("%s: compose started no new container", service)
}

// awaitHealthy waits until c's health check passes, for d.wait at most; on
// failure it prints the last lines of c's log.
func (d *deployer) awaitHealthy(ctx context.Context, service string, c deploy.Container) error {
	inspect := session.Docker("inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", c.ID)
	if d.DryRun {
		d.Say("[dry-run] wait until the new %s container is healthy, %s at most", service, d.wait)
		return nil
	}
	deadline := time.Now().Add(d.wait)
	state := ""
	for {
		out, err := d.Query(ctx, inspect)
		if err != nil {
			return err
		}
		state = strings.TrimSpace(out)
		if state == "running healthy" || state == "running" { // no health check: running is all it can say
			d.Say("%s %s is healthy in %s", service, d.version, c.Name)
			return nil
		}
		if !strings.HasPrefix(state, "running") || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	logs, _ := d.Query(ctx, session.Docker("logs", "--tail", "20", c.ID))
	d.Say("the new %s container %s is %q; its last log lines:", service, c.Name, state)
	for _, l := range splitLines(logs) {
		d.Say("    %s", l)
	}
	return fmt.Errorf("it is %q", state)
}

// sameImage tells whether every container runs the image ref names now
// (by image ID, whatever its tag).
func (d *deployer) sameImage(ctx context.Context, cs []deploy.Container, ref string) bool {
	if d.DryRun || len(cs) == 0 {
		return false
	}
	want, err := d.Query(ctx, session.Docker("image", "inspect", "--format", "{{.Id}}", ref))
	if err != nil {
		return false
	}
	for _, c := range cs {
		got, err := d.Query(ctx, session.Docker("inspect", "--format", "{{.Image}}", c.ID))
		if err != nil || strings.TrimSpace(got) != strings.TrimSpace(want) {
			return false
		}
	}
	return true
}

// digests are the repo digests of the deployed images, for the record.
func (d *deployer) digests(ctx context.Context) map[string]string {
	if d.DryRun {
		return nil
	}
	out := map[string]string{}
	for _, img := range d.images {
		ref := d.want[img.Name]
		if digest, err := d.Query(ctx, session.Docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", ref)); err == nil {
			out[img.Name] = strings.TrimSpace(digest)
		}
	}
	return out
}

// record appends the deploy to the server's history (not in a dry run).
func (d *deployer) record(r deploy.Record, start time.Time) {
	if d.DryRun {
		d.Say("[dry-run] record the deploy (%s) in %s", r.Outcome, stack.DeployLog)
		return
	}
	r.Duration = d.Now().Sub(start).Round(100 * time.Millisecond).String()
	if err := deploy.Append(filepath.Join(d.Root, stack.DeployLog), r); err != nil {
		d.Say("warning: the deploy could not be recorded in %s: %v", stack.DeployLog, err)
	}
}

func seconds(d time.Duration) string { return fmt.Sprint(int(d.Round(time.Second).Seconds())) }

// Status prints the version and health of each service of the release
// stack, and the last deploys.
func Status(ctx context.Context, o *session.Session) error {
	s, err := o.Open(deployEnvironment)
	if err != nil {
		return err
	}
	running, err := containers(ctx, s)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "release stack %s: %s\n", s.Project.Name, orNone(deploy.RunningVersion(running)))
	for _, c := range running {
		health := c.Health
		if health == "" {
			health = "-"
		}
		fmt.Fprintf(o.Stdout, "  %-9s %-28s %-8s %-10s %s\n", c.Service, c.Name, c.State, health, c.Image)
	}
	records, err := deploy.Read(filepath.Join(s.Root, stack.DeployLog))
	if err != nil {
		return err
	}
	if len(records) == 0 {
		fmt.Fprintf(o.Stdout, "no deploy recorded in %s yet\n", stack.DeployLog)
		return nil
	}
	fmt.Fprintf(o.Stdout, "last deploys (%s):\n", stack.DeployLog)
	for _, r := range records[max(0, len(records)-5):] {
		line := fmt.Sprintf("  %s  %-12s %-11s from %-12s %s", r.Time.Local().Format("2006-01-02 15:04:05"), r.Version, r.Outcome, orNone(r.Previous), r.Duration)
		if r.Reason != "" {
			line += "  " + stack.Clip(r.Reason)
		}
		fmt.Fprintln(o.Stdout, o.Mask(line))
	}
	return nil
}
