package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/backup"
	"github.com/kettleofketchup/dtx_website/internal/lock"
	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Environment is the stack prod:deploy, prod:status and prod:rollback act
// on: the one whose images are pinned to VERSION.
const Environment = "release"

// DefaultWait is how long a new container gets to become healthy.
const DefaultWait = 120 * time.Second

// MaxReason bounds a failure's reason in the history (masked first).
const MaxReason = 2000

// Deploy deploys version (VERSION of st's env files when empty) on st, the
// release stack, without dropping a request: see deployer.apply. It holds
// the release stack's lock (internal/lock) throughout; a dry run takes
// none.
func Deploy(ctx context.Context, st *session.Stack, version string, wait time.Duration) error {
	d, err := newDeployer(ctx, st, version, wait, "prod:deploy")
	if err != nil {
		return err
	}
	release, err := takeLock(st, d.command)
	if err != nil {
		return err
	}
	defer release()
	return d.apply(ctx, Deployed)
}

// RollbackOptions are prod:rollback's options.
type RollbackOptions struct {
	Wait time.Duration
	// Data puts back the data of the backup the undone deploy took before
	// it changed anything (prod:rollback -data); Force does it even when
	// writes happened since that the restore loses.
	Data, Force bool
}

// Rollback deploys on st, the same way, the version deployed before the
// one that runs, walking back through the history (RollbackTarget): a
// second rollback goes further back, never forward. With opt.Data it then
// restores the backup the undone deploy took, after checking it and, unless
// forced, that nothing was written since that deploy ended.
func Rollback(ctx context.Context, st *session.Stack, opt RollbackOptions) error {
	site, err := st.Site(ctx)
	if err != nil {
		return err
	}
	release, err := takeLock(st, "prod:rollback")
	if err != nil {
		return err
	}
	defer release()
	records := readHistory(st)
	running, err := containers(ctx, st)
	if err != nil && !st.DryRun {
		return err
	}
	now := RunningVersion(running, site, imageIDs(ctx, st, proxyTags(running, site)))
	current, target, ok := RollbackTarget(records, now)
	if !ok {
		return fmt.Errorf("no version was deployed before %s in %s: name the version to go back to with ./dtx prod:deploy -version=X.Y.Z", OrNone(current), stack.DeployLog)
	}
	var restore string
	if opt.Data {
		if restore, err = dataToRestore(ctx, st, records, current, opt.Force); err != nil {
			return err
		}
	}
	st.Say("rolling back from %s to %s, the version deployed before it", current, target)
	d, err := newDeployer(ctx, st, target, opt.Wait, "prod:rollback")
	if err != nil {
		return err
	}
	d.spare = restore
	if err := d.apply(ctx, RolledBack); err != nil || restore == "" {
		return err
	}
	st.Say("putting back the data of %s, taken before %s was deployed", restore, current)
	return backup.Restore(ctx, st, restore, opt.Force)
}

// dataToRestore is the backup prod:rollback -data restores after moving
// back from current: the one the deploy of current took. It refuses,
// before anything changes, a deploy that took none, a backup that is
// damaged, and (unless force) one whose restore would lose writes made
// since the deploy ended.
func dataToRestore(ctx context.Context, st *session.Stack, records []Record, current string, force bool) (string, error) {
	r, ok := UndoneDeploy(records, current)
	if !ok || r.Backup == "" {
		return "", fmt.Errorf("the deploy of %s took no backup (%s shows none), so -data has nothing to put back: roll back without -data, or restore one by name with ./dtx prod:restore -name=… (./dtx prod:backups lists them)", OrNone(current), stack.DeployLog)
	}
	m, err := backup.ReadManifest(st.Root, r.Backup)
	if err != nil {
		return "", fmt.Errorf("%w; nothing was touched", err)
	}
	if err := backup.Verify(st.Root, m); err != nil {
		return "", fmt.Errorf("%w; nothing was touched: roll back without -data, or restore another backup with ./dtx prod:restore -name=…", err)
	}
	if st.DryRun {
		st.Say("[dry-run] check that nothing was written since %s was deployed, then restore %s after the rollback", current, r.Backup)
		return r.Backup, nil
	}
	written, err := backup.WritesSince(ctx, st, r.Data)
	if err != nil {
		return "", err
	}
	if len(written) > 0 {
		if !force {
			return "", fmt.Errorf("data was written since %s was deployed (%s): restoring %s would lose it, so nothing was touched; -force restores it anyway (the rollback takes a backup of the data first)", current, strings.Join(written, ", "), r.Backup)
		}
		st.Say("data was written since %s was deployed (%s): -force restores %s anyway; the rollback's own backup keeps what it replaces", current, strings.Join(written, ", "), r.Backup)
	}
	return r.Backup, nil
}

// takeLock takes the release stack's lock for command; a dry run changes
// nothing and takes none.
func takeLock(st *session.Stack, command string) (release func(), err error) {
	if st.DryRun {
		return func() {}, nil
	}
	l, err := lock.Take(st.Root, command, st.Now())
	if err != nil {
		return nil, err
	}
	return l.Release, nil
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
	command string // prod:deploy, prod:rollback
	version string
	wait    time.Duration
	site    roles.Site
	before  string // what ran before (Plan.Running), for messages
	// preDeploy are PRE_DEPLOY's words and preDeployIn the service whose
	// new image runs them.
	preDeploy   []string
	preDeployIn string
	timeline    *Timeline
	// backupFirst: a backup of the data before the deploy changes
	// anything (BACKUP_BEFORE_DEPLOY).
	backupFirst bool
	spare       string // a backup the deploy's own must not prune (prod:rollback -data's)
}

func newDeployer(ctx context.Context, st *session.Stack, version string, wait time.Duration, command string) (*deployer, error) {
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
	site, err := st.Site(ctx)
	if err != nil {
		return nil, err
	}
	if len(site.Replaced()) == 0 {
		return nil, fmt.Errorf("%s has no service on an image the project builds (under REGISTRY=%s): nothing moves with VERSION", st.Env.Environment.ComposeFile, st.Env.Registry())
	}
	d := &deployer{Stack: st, command: command, version: version, wait: wait, site: site, timeline: NewTimeline(st.Now)}
	if d.backupFirst, err = backup.BeforeDeploy(st); err != nil {
		return nil, err
	}
	if command, _ := st.Env.Get("PRE_DEPLOY"); strings.TrimSpace(command) != "" {
		if d.preDeploy, err = runner.SplitWords(command); err != nil {
			return nil, fmt.Errorf("PRE_DEPLOY: %w", err)
		}
		if d.preDeployIn, err = PreDeployService(site, model, st.Env.Environment.ComposeFile); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// PreDeployService is the service whose new image runs PRE_DEPLOY: the one
// that declares x-dtx.pre-deploy, else the routed service on a project
// image (a worker when none is routed), else, among several, the one that
// depends on a stateful service (the database the migrations change).
func PreDeployService(site roles.Site, model *types.Project, file string) (string, error) {
	var declared []string
	for _, svc := range site.Services {
		if svc.PreDeploy {
			declared = append(declared, svc.Name)
		}
	}
	switch {
	case len(declared) == 1:
		return declared[0], nil
	case len(declared) > 1:
		return "", fmt.Errorf("%s: services %s all declare %s.pre-deploy: PRE_DEPLOY runs once, in one of them; keep it on one", file, strings.Join(declared, ", "), roles.Extension)
	}
	var candidates []string
	for _, r := range []roles.Role{roles.Routed, roles.Worker} {
		for _, svc := range site.Of(r) {
			if svc.Built {
				candidates = append(candidates, svc.Name)
			}
		}
		if len(candidates) > 0 {
			break
		}
	}
	if len(candidates) > 1 && model != nil {
		var onData []string
		for _, name := range candidates {
			for dep := range model.Services[name].DependsOn {
				if s, ok := site.Get(dep); ok && s.Role == roles.Stateful && !slices.Contains(onData, name) {
					onData = append(onData, name)
				}
			}
		}
		if len(onData) > 0 {
			candidates = onData
		}
	}
	if len(candidates) == 1 {
		return candidates[0], nil
	}
	return "", fmt.Errorf("PRE_DEPLOY is set, but %s does not say which service's new image runs it (%s could): declare %s: {pre-deploy: true} on that service", file, orNoService(candidates), roles.Extension)
}

func orNoService(names []string) string {
	if len(names) == 0 {
		return "no service on a project image"
	}
	return strings.Join(names, " or ")
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

// imageIDs are the IDs of the images refs name, for RunningVersion; a
// reference the engine does not have is left out.
func imageIDs(ctx context.Context, st *session.Stack, refs []string) map[string]string {
	ids := map[string]string{}
	for _, ref := range refs {
		if id, err := st.Query(ctx, ImageID(ref)); err == nil {
			ids[ref] = strings.TrimSpace(id)
		}
	}
	return ids
}

// readHistory reads the deploy history, saying which lines it skipped.
func readHistory(st *session.Stack) []Record {
	records, damaged, err := Read(filepath.Join(st.Root, stack.DeployLog))
	if err != nil {
		st.Say("warning: %s cannot be read (%v): the deploy goes on without its history", stack.DeployLog, err)
	}
	for _, d := range damaged {
		st.Say("warning: %s %v", stack.DeployLog, d)
	}
	return records
}

// versioned is a compose command of the project with VERSION set to the
// deploy's, which wins over the env files (and reaches the containers
// through the env override).
func (d *deployer) versioned(args ...string) runner.Command {
	c := d.ComposeCommand(args...)
	c.Env = append(c.Env, "VERSION="+d.version)
	return c
}

// step starts a step of the deploy: it says what it does ("step NAME:
// what", one line) and times it for the timeline.
func (d *deployer) step(name, format string, args ...any) {
	d.timeline.Step(name)
	d.Say("step %s: %s", name, fmt.Sprintf(format, args...))
}

// images are the references of the version's images, each once.
func (d *deployer) images() []string {
	var refs []string
	for _, svc := range d.site.Replaced() {
		if ref := AtVersion(svc.Image, d.version); !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	return refs
}

// apply is the deploy: pull every image first (a failed pull touches
// nothing), write the in-progress record, run PRE_DEPLOY in a one-off
// container of its service's new image, then on an empty server start the
// stack and wait; else replace every service on a project image per its
// role (roll) and recreate the proxy only when its own image changed. A
// deploy that a killed one left unfinished is finished or undone on the
// way: what runs is planned like any other state. Each deploy that
// changes something is recorded, and ends with its timeline.
func (d *deployer) apply(ctx context.Context, outcome string) error {
	ctx, release := d.interruptible(ctx)
	defer release()
	d.step("plan", "reading what runs")
	running, err := containers(ctx, d.Stack)
	if err != nil {
		if !d.DryRun {
			return err
		}
		d.Say("[dry-run] the stack's containers are unknown (%v): planning as on an empty server", err)
	}
	open := Unfinished(readHistory(d.Stack))
	plan := NewPlan(d.version, running, d.site)
	plan.Running = RunningVersion(running, d.site, imageIDs(ctx, d.Stack, proxyTags(running, d.site)))
	d.before = plan.Running
	if len(open) > 0 {
		plan.Resume(running, d.site)
	}
	if plan.Nothing {
		d.Say("%s already runs every service of the release stack: nothing to do", d.version)
		return nil
	}
	d.takeOver(open)
	record := Record{Time: d.timeline.start.UTC(), Version: d.version, Previous: plan.Running, Outcome: outcome}
	fail := func(err error) error {
		if cause := interruption(ctx); cause != nil && !errors.Is(err, errInterrupted) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		record.Outcome, record.Reason = Failed, err.Error()
		d.finish(record)
		return err
	}
	if plan.First {
		d.Say("deploying %s on an empty server: starting the release stack", d.version)
	} else {
		d.Say("deploying %s over %s", d.version, OrNone(plan.Running))
	}
	d.step("pull", "pulling the images of %s", d.version)
	if err := d.pull(ctx); err != nil {
		return fail(err)
	}
	// Every version tags every image: the proxy's tag changes with each
	// release while its image mostly does not. Recreate it only for
	// another image.
	if plan.Proxy != nil && !plan.First && d.sameImage(ctx, running, *plan.Proxy) {
		plan.Proxy = nil
		if plan.Nothing = len(plan.Replace) == 0 && len(plan.Start) == 0 && len(plan.Leftovers) == 0 && !plan.Unpin; plan.Nothing {
			d.Say("%s already runs every service (the proxy's image is the same under its new tag): nothing to do", d.version)
			return nil
		}
	}
	if !plan.First {
		d.Say("%s", plan.Describe())
	}
	d.begin(record)
	d.step("prepare", "the folders and certificate the stack mounts")
	if err := d.Prepare(ctx); err != nil {
		return fail(err)
	}
	if !plan.First && d.backupFirst {
		name, err := d.backup(ctx)
		if name == "" {
			return fail(err)
		}
		if err != nil {
			d.Say("warning: %v", err)
		}
		record.Backup = name
	}
	if err := d.runPreDeploy(ctx); err != nil {
		return fail(err)
	}
	if plan.First {
		err = d.first(ctx)
	} else {
		err = d.roll(ctx, plan, running)
	}
	if err != nil {
		return fail(err)
	}
	if plan.Proxy != nil && !plan.First {
		if err := d.recreateProxy(ctx, *plan.Proxy, running); err != nil {
			return fail(err)
		}
	}
	d.step("record", "the deploy in %s", stack.DeployLog)
	record.Digests = d.digests(ctx)
	if record.Backup != "" && !d.DryRun {
		// What the data looks like as the deploy ends: a rollback with
		// its data compares it with the data then, to see what it would
		// lose.
		if record.Data, err = backup.TakeFingerprint(ctx, d.Stack); err != nil {
			d.Say("warning: the data's fingerprint could not be taken (prod:rollback -data will ask for -force): %v", err)
		}
	}
	d.finish(record)
	if !d.DryRun {
		d.Say("%s deployed in %s", d.version, d.Now().Sub(d.timeline.start).Round(100*time.Millisecond))
	}
	return nil
}

// backup takes the backup before the deploy changes anything: the data
// as the running version left it, which prod:rollback -data puts back.
// It returns the backup's name, and an error with no name when there is
// none (the deploy then stops with nothing changed), or with the name
// when only its copy to BACKUP_TO failed.
func (d *deployer) backup(ctx context.Context) (string, error) {
	d.step("backup", "a backup of the data before %s changes anything (%s=0 skips it)", d.command, backup.BeforeDeployVar)
	var spare []string
	if d.spare != "" {
		spare = append(spare, d.spare)
	}
	name, err := backup.Take(ctx, d.Stack, "before-"+d.version, spare...)
	if err != nil && name == "" {
		return "", fmt.Errorf("the backup before the deploy failed, so nothing was changed (%s=0 deploys without one): %w", backup.BeforeDeployVar, err)
	}
	return name, err
}

// takeOver closes the deploys a killed process left in progress: this
// one holds the lock, so their processes are gone. It says what this
// deploy does with what they left: finishes it (the same version), undoes
// it (the version before) or replaces it.
func (d *deployer) takeOver(open []Record) {
	for _, r := range open {
		verb := "replaces"
		switch d.version {
		case r.Version:
			verb = "finishes"
		case r.Previous:
			verb = "undoes"
		}
		what := fmt.Sprintf("%s of %s over %s, started %s (pid %d)", orDeploy(r.Command), r.Version, OrNone(r.Previous), r.Time.Local().Format("2006-01-02 15:04:05"), r.PID)
		d.Say("the %s, was interrupted: its process is gone (killed, or the server restarted); this deploy of %s %s it", what, d.version, verb)
		closing := r
		closing.Outcome, closing.PID, closing.Command = Interrupted, 0, r.Command
		closing.Reason = fmt.Sprintf("its process (pid %d) ended before it did; the %s of %s started %s %s it", r.PID, d.command, d.version, d.timeline.start.Local().Format("2006-01-02 15:04:05"), verb)
		d.append(closing)
	}
}

func orDeploy(command string) string {
	if command == "" {
		return "deploy"
	}
	return command
}

// pull pulls every image of the version at once: a failed pull touches
// nothing.
func (d *deployer) pull(ctx context.Context) error {
	refs := d.images()
	errs := make([]error, len(refs))
	if d.DryRun {
		for _, ref := range refs {
			_ = d.Run(ctx, Pull(ref))
		}
		return nil
	}
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Go(func() { errs[i] = d.Run(ctx, Pull(ref)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("pulling %s failed, so nothing was changed: %w", refs[i], err)
		}
	}
	return nil
}

// sameImage tells whether the proxy's running containers run the image
// the version's reference names now (by image ID, whatever its tag).
func (d *deployer) sameImage(ctx context.Context, running []Container, proxy roles.Service) bool {
	if d.DryRun {
		return false
	}
	want, err := d.Query(ctx, ImageID(AtVersion(proxy.Image, d.version)))
	if err != nil {
		return false
	}
	var got []string
	for _, c := range Of(running, proxy.Name) {
		got = append(got, c.ImageID())
	}
	return SameImage(want, got)
}

// runPreDeploy runs PRE_DEPLOY (python manage.py migrate, say), split like
// a shell's words, once in a one-off container of its service's new image
// on the stack's network, before any traffic moves.
func (d *deployer) runPreDeploy(ctx context.Context) error {
	if len(d.preDeploy) == 0 {
		return nil
	}
	d.step("pre-deploy", "running PRE_DEPLOY in a one-off container of the new %s", d.preDeployIn)
	if err := d.Run(ctx, d.versioned(PreDeployArgs(d.preDeployIn, d.preDeploy)...)); err != nil {
		return fmt.Errorf("the pre-deploy command (PRE_DEPLOY) failed in the %s %s, so nothing was switched: %w", d.version, d.preDeployIn, err)
	}
	return nil
}

// first starts the stack on an empty server and waits until every service
// is healthy. If it is not, the containers of every service on a project
// image go (the stateful ones stay): nothing of the version is left.
func (d *deployer) first(ctx context.Context) error {
	d.step("start", "starting the release stack, %s at most", d.wait)
	err := d.Run(ctx, d.versioned(StartArgs(d.wait)...))
	if err == nil || d.DryRun {
		return err
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	now, lerr := containers(cctx, d.Stack)
	if lerr != nil {
		return err
	}
	var gone []string
	for _, svc := range d.site.Replaced() {
		for _, c := range now {
			if c.Service != svc.Name || c.OneOff() {
				continue
			}
			if c.Health == "starting" || c.Health == "unhealthy" || c.State != "running" {
				d.showLogs(cctx, &notUp{Container: c, State: State{Status: c.State, Health: c.Health}})
			}
			gone = append(gone, c.ID)
		}
	}
	if len(gone) > 0 {
		d.step("undo", "removing the new containers")
		if rerr := d.RunQuiet(cctx, Discard(gone)); rerr != nil {
			d.Say("removing the new containers failed too: %v", rerr)
		}
	}
	return fmt.Errorf("the release stack did not start healthy (%w): the containers of %s are removed, so nothing of %s runs; the last log lines of those that were not up are above", err, strings.Join(roles.Names(d.site.Replaced()), ", "), d.version)
}

// recreateProxy recreates the proxy with the version's image and waits
// until it is healthy (connections to it fail meanwhile: about a second).
// If it is not, its container of the version before starts again.
func (d *deployer) recreateProxy(ctx context.Context, proxy roles.Service, running []Container) error {
	d.step("proxy", "recreating %s with its %s image, %s at most", proxy.Name, d.version, d.wait)
	t0 := d.Now()
	err := d.Run(ctx, d.versioned(RecreateProxyArgs(proxy.Name, d.wait)...))
	if err == nil {
		if !d.DryRun {
			d.Say("%s recreated with its %s image in %s: connections to it failed meanwhile", proxy.Name, d.version, d.Now().Sub(t0).Round(100*time.Millisecond))
		}
		return nil
	}
	old := ""
	if cs := Of(running, proxy.Name); len(cs) > 0 {
		old = cs[0].Tag()
	}
	if old == "" {
		return fmt.Errorf("%s %s did not start healthy: %w", proxy.Name, d.version, err)
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	d.step("undo", "recreating %s with its %s image again", proxy.Name, old)
	c := d.ComposeCommand(RecreateProxyArgs(proxy.Name, d.wait)...)
	c.Env = append(c.Env, "VERSION="+old)
	if rerr := d.RunQuiet(cctx, c); rerr != nil {
		d.Say("recreating %s %s again failed too: %v", proxy.Name, old, rerr)
	}
	return fmt.Errorf("%w, but %s %s did not start healthy (%w): %s %s runs again", errServed, proxy.Name, d.version, err, proxy.Name, old)
}

// digests are the repo digests of the deployed images, for the record.
func (d *deployer) digests(ctx context.Context) map[string]string {
	if d.DryRun {
		return nil
	}
	out := map[string]string{}
	for _, ref := range d.images() {
		if digest, err := d.Query(ctx, RepoDigest(ref)); err == nil {
			out[Repository(ref)[strings.LastIndex(Repository(ref), "/")+1:]] = strings.TrimSpace(digest)
		}
	}
	return out
}

// begin writes the deploy's in-progress record, before its first change:
// after a kill -9 or a reboot, prod:status says what was interrupted and
// the next deploy finishes or undoes it.
func (d *deployer) begin(r Record) {
	r.Outcome, r.Command, r.PID = InProgress, d.command, os.Getpid()
	d.append(r)
}

// finish writes the deploy's last record, which closes its in-progress
// one, with its failure's reason masked before it is bounded, and prints
// the timeline.
func (d *deployer) finish(r Record) {
	r.Duration = d.Now().Sub(d.timeline.start).Round(100 * time.Millisecond).String()
	r.Reason = clipRunes(d.Mask(r.Reason), MaxReason)
	d.append(r)
	if d.DryRun {
		return
	}
	for _, l := range d.timeline.Lines() {
		d.Say("%s", l)
	}
}

// append adds r to the server's history (not in a dry run).
func (d *deployer) append(r Record) {
	if d.DryRun {
		d.Say("[dry-run] record the deploy (%s) in %s", r.Outcome, stack.DeployLog)
		return
	}
	r.Reason = d.Mask(r.Reason)
	if err := Append(filepath.Join(d.Root, stack.DeployLog), r); err != nil {
		d.Say("warning: the deploy could not be recorded in %s: %v", stack.DeployLog, err)
	}
}

// clipRunes bounds s to n runes, with an ellipsis when it cut.
func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
