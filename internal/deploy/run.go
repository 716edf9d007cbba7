package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/images"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Environment is the stack prod:deploy, prod:status and prod:rollback act
// on: the one whose images are pinned to VERSION.
const Environment = "release"

// DefaultWait is how long a new container gets to become healthy.
const DefaultWait = 120 * time.Second

// Deploy deploys version (VERSION of st's env files when empty) on st, the
// release stack, without dropping a request: see deployer.apply.
func Deploy(ctx context.Context, st *session.Stack, version string, wait time.Duration) error {
	d, err := newDeployer(ctx, st, version, wait)
	if err != nil {
		return err
	}
	return d.apply(ctx, Deployed)
}

// Rollback deploys on st the version that ran before the current one, the
// same way (see RollbackTarget).
func Rollback(ctx context.Context, st *session.Stack, wait time.Duration) error {
	records, err := Read(filepath.Join(st.Root, stack.DeployLog))
	if err != nil {
		return err
	}
	running, _ := containers(ctx, st)
	current, previous, ok := RollbackTarget(records, running)
	if !ok {
		return fmt.Errorf("no earlier good deploy than %s in %s: name the version to go back to with ./dtx prod:deploy -version=X.Y.Z", OrNone(current), stack.DeployLog)
	}
	st.Say("rolling back from %s to %s, the previous good deploy", current, previous)
	d, err := newDeployer(ctx, st, previous, wait)
	if err != nil {
		return err
	}
	return d.apply(ctx, RolledBack)
}

// OrNone names a version for a message: "(nothing runs)" when empty.
func OrNone(v string) string {
	if v == "" {
		return "(nothing runs)"
	}
	return v
}

// deployer is one deploy of the release stack.
type deployer struct {
	*session.Stack
	nginxEnv map[string]string // the proxy's environment as compose resolves it (its upstreams)
	version  string
	wait     time.Duration
	want     map[string]string // service -> image at version
	images   []string          // the names of the project images the stack runs
}

func newDeployer(ctx context.Context, st *session.Stack, version string, wait time.Duration) (*deployer, error) {
	var err error
	if version == "" {
		if version, err = st.Env.Version(); err != nil {
			return nil, err
		}
	} else if err := CheckVersion(version); err != nil {
		return nil, fmt.Errorf("-version=%w", err)
	}
	if wait <= 0 {
		wait = DefaultWait
	}
	model, err := st.Load(ctx)
	if err != nil {
		return nil, err
	}
	d := &deployer{Stack: st, version: version, wait: wait, want: map[string]string{}, nginxEnv: map[string]string{}}
	// The project images the release stack runs; each is its service.
	prefix := st.Env.Registry() + "/"
	for _, ref := range compose.ImageRefs(model) {
		if name, ok := strings.CutPrefix(images.Repository(ref), prefix); ok && !slices.Contains(d.images, name) {
			d.images = append(d.images, name)
			d.want[name] = prefix + name + ":" + version
		}
	}
	if proxy, ok := model.Services[Proxy]; ok {
		for k, v := range proxy.Environment {
			if v != nil {
				d.nginxEnv[k] = *v
			}
		}
	}
	return d, nil
}

// containers lists the stack's containers (a read-only query, also in a dry
// run; without an engine a dry run plans as if nothing ran).
func containers(ctx context.Context, st *session.Stack) ([]Container, error) {
	out, err := st.Query(ctx, st.ComposeCommand(PsArgs()...))
	if err != nil {
		return nil, st.Explain(ctx, st.ComposeCommand("ps"), err)
	}
	return ParsePs([]byte(out))
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
	plan := NewPlan(d.version, running, d.want)
	if plan.Nothing {
		d.Say("%s already runs every service of the release stack: nothing to do", d.version)
		return nil
	}
	start := d.Now()
	record := Record{Time: start.UTC(), Version: d.version, Previous: plan.Running, Outcome: outcome}
	fail := func(err error) error {
		record.Outcome, record.Reason = Failed, err.Error()
		d.record(record, start)
		return err
	}
	if plan.First {
		d.Say("deploying %s on an empty server: starting the release stack", d.version)
	} else {
		d.Say("deploying %s over %s", d.version, plan.Running)
	}
	for _, img := range d.images {
		if err := d.Run(ctx, Pull(d.want[img])); err != nil {
			return fail(fmt.Errorf("pulling %s failed, so nothing was changed: %w", d.want[img], err))
		}
	}
	// Every version tags every image: nginx's tag changes with each release
	// while its image mostly does not. Recreate it only for another image.
	if plan.Nginx && !plan.First && d.sameImage(ctx, Of(running, Proxy), d.want[Proxy]) {
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
		if err := d.Run(ctx, d.versioned(StartArgs(d.wait)...)); err != nil {
			return fail(err)
		}
	}
	if len(plan.Roll) > 0 {
		if err := d.roll(ctx, plan.Roll, running); err != nil {
			return fail(err)
		}
	}
	if plan.Nginx {
		t0 := d.Now()
		if err := d.Run(ctx, d.versioned(RecreateProxyArgs(d.wait)...)); err != nil {
			return fail(err)
		}
		if !d.DryRun {
			d.Say("nginx recreated with its %s image in %s: connections to it failed meanwhile", d.version, d.Now().Sub(t0).Round(100*time.Millisecond))
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
	if err := d.Run(ctx, d.versioned(PreDeployArgs(words)...)); err != nil {
		return fmt.Errorf("the pre-deploy command (PRE_DEPLOY) failed in the %s %s, so nothing was switched: %w", d.version, Migrator, err)
	}
	return nil
}

// sameImage tells whether every container in cs runs the image ref names
// now (by image ID, whatever its tag).
func (d *deployer) sameImage(ctx context.Context, cs []Container, ref string) bool {
	if d.DryRun || len(cs) == 0 {
		return false
	}
	want, err := d.Query(ctx, ImageID(ref))
	if err != nil {
		return false
	}
	var running []string
	for _, c := range cs {
		got, err := d.Query(ctx, ContainerImage(c.ID))
		if err != nil {
			return false
		}
		running = append(running, got)
	}
	return SameImage(want, running)
}

// digests are the repo digests of the deployed images, for the record.
func (d *deployer) digests(ctx context.Context) map[string]string {
	if d.DryRun {
		return nil
	}
	out := map[string]string{}
	for _, img := range d.images {
		if digest, err := d.Query(ctx, RepoDigest(d.want[img])); err == nil {
			out[img] = strings.TrimSpace(digest)
		}
	}
	return out
}

// record appends the deploy to the server's history (not in a dry run).
func (d *deployer) record(r Record, start time.Time) {
	if d.DryRun {
		d.Say("[dry-run] record the deploy (%s) in %s", r.Outcome, stack.DeployLog)
		return
	}
	r.Duration = d.Now().Sub(start).Round(100 * time.Millisecond).String()
	if err := Append(filepath.Join(d.Root, stack.DeployLog), r); err != nil {
		d.Say("warning: the deploy could not be recorded in %s: %v", stack.DeployLog, err)
	}
}
