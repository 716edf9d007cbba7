package targets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/swarm"
)

// SwarmTimeout bounds how long a swarm target waits for the services to
// converge, roll back or go away.
const SwarmTimeout = 10 * time.Minute

// swarmPollEvery is how often the swarm targets ask the manager.
var swarmPollEvery = time.Second

// swarmCrashGrace is how long a service that is not updating may have
// failed tasks before the wait gives up on it.
var swarmCrashGrace = 45 * time.Second

// ErrRolledBack is returned (wrapped) when Swarm rolled an update back.
var ErrRolledBack = errors.New("the update was rolled back")

// swarmSession is the release environment opened for a swarm target.
type swarmSession struct {
	*session.Stack
	stack string // the Swarm stack's name: the compose project prefix
}

func openSwarm(o *session.Session) (*swarmSession, error) {
	s, err := o.Open("release")
	if err != nil {
		return nil, err
	}
	return &swarmSession{Stack: s, stack: o.Prefix()}, nil
}

// dockerCmd is a docker command (no compose): the CLI reaches the manager
// through DOCKER_HOST or DOCKER_CONTEXT, nothing reads its filesystem.
func dockerCmd(args ...string) runner.Command { return session.Docker(args...) }

// query runs a read-only docker command and returns its output.
func (s *swarmSession) query(ctx context.Context, args ...string) (string, error) {
	return s.Query(ctx, dockerCmd(args...))
}

// requireManager checks that the engine the CLI talks to manages a swarm
// and that one of its nodes may hold redis.
func (s *swarmSession) requireManager(ctx context.Context) error {
	out, err := s.query(ctx, "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
	if err != nil {
		return s.Explain(ctx, dockerCmd("info"), err)
	}
	if strings.TrimSpace(out) != "active true" {
		return fmt.Errorf("the Docker engine at %s is not a swarm manager (swarm state: %s): run docker swarm init there, or point DOCKER_HOST or DOCKER_CONTEXT at a manager", s.DockerHost(), strings.TrimSpace(out))
	}
	ids, err := s.query(ctx, "node", "ls", "-q")
	if err != nil {
		return err
	}
	labels, err := s.query(ctx, append([]string{"node", "inspect", "--format", `{{index .Spec.Labels "` + swarm.RedisLabel + `"}}`}, strings.Fields(ids)...)...)
	if err != nil {
		return err
	}
	if !slices.Contains(strings.Fields(labels), "true") {
		return fmt.Errorf("no swarm node has the label %s=true, so redis has nowhere to run: docker node update --label-add %s=true NODE (the node that keeps redis's data)", swarm.RedisLabel, swarm.RedisLabel)
	}
	return nil
}

// swarmPlan derives the stack from the release compose file.
func (s *swarmSession) swarmPlan(ctx context.Context) (*swarm.Plan, error) {
	version, err := s.Env.Version()
	if err != nil {
		return nil, err
	}
	project, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	tmpl, err := os.ReadFile(filepath.Join(s.Root, "nginx/default.template.conf"))
	if err != nil {
		return nil, fmt.Errorf("nginx/default.template.conf: %w: restore it from git", err)
	}
	cert, key, err := s.nginxCertificate()
	if err != nil {
		return nil, err
	}
	s.AddSecrets(string(key))
	digests := map[string]string{}
	for _, sc := range project.Services {
		if strings.HasPrefix(sc.Image, s.Env.Registry()+"/") {
			if d := s.digest(ctx, sc.Image); d != "" {
				digests[sc.Image] = d
			}
		}
	}
	return swarm.Make(swarm.Input{Project: project, Env: s.Env, Prefix: s.stack, Version: version,
		Template: tmpl, Cert: cert, Key: key, Digests: digests})
}

// nginxCertificate is the certificate nginx serves: certbot's for DOMAIN
// when this checkout has one (nginx/data/certbot/conf/live/DOMAIN/), else the
// tool's self-signed one in nginx/data/ssl/, made when missing. Both are
// files of the machine the tool runs on, never of a node.
func (s *swarmSession) nginxCertificate() (cert, key []byte, err error) {
	domain := s.Env.Value("DOMAIN")
	for _, dir := range []string{filepath.Join("nginx/data/certbot/conf/live", domain), "nginx/data/ssl"} {
		c, cerr := os.ReadFile(filepath.Join(s.Root, dir, swarm.CertFile))
		k, kerr := os.ReadFile(filepath.Join(s.Root, dir, swarm.KeyFile))
		if cerr == nil && kerr == nil {
			return c, k, nil
		}
	}
	names := session.CertNames(domain)
	if s.DryRun {
		s.Say("[dry-run] generate a self-signed certificate for %s in nginx/data/ssl/ (the secret names below are then different)", strings.Join(names, ", "))
		return []byte("self-signed certificate"), []byte("<its-private-key>"), nil
	}
	dir := filepath.Join(s.Root, "nginx/data/ssl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	if _, err := certs.EnsureSelfSigned(dir, names, s.Now()); err != nil {
		return nil, nil, fmt.Errorf("nginx/data/ssl: %w", err)
	}
	s.Say("generated a self-signed certificate for %s in nginx/data/ssl/ (key mode 0600); ./dtx prod:certbot STACK=swarm replaces it", strings.Join(names, ", "))
	return s.nginxCertificate()
}

// digest asks the registry for ref's digest (a single-platform manifest),
// "" when it cannot tell: the stack then names the image by its tag.
func (s *swarmSession) digest(ctx context.Context, ref string) string {
	args := []string{"manifest", "inspect", "-v"}
	if loopbackRegistry(ref) {
		args = append(args, "--insecure") // the engine's default insecure range: plain HTTP on 127.0.0.0/8
	}
	out, err := s.query(ctx, append(args, ref)...)
	if err != nil {
		if !s.DryRun {
			s.Say("note: %s: no digest from the registry (%v); the stack names it by its tag", ref, err)
		}
		return ""
	}
	var m struct{ Descriptor struct{ Digest string } }
	if json.Unmarshal([]byte(out), &m) != nil || !strings.HasPrefix(m.Descriptor.Digest, "sha256:") {
		return "" // a manifest list: the tag, resolved by docker stack deploy
	}
	return m.Descriptor.Digest
}

func loopbackRegistry(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

// SwarmDeploy deploys the release stack at VERSION to the swarm the docker
// CLI manages and waits until every service has converged or rolled back.
func SwarmDeploy(ctx context.Context, o *session.Session) error {
	s, err := openSwarm(o)
	if err != nil {
		return err
	}
	if !s.DryRun {
		if err := s.requireManager(ctx); err != nil {
			return err
		}
	}
	plan, err := s.swarmPlan(ctx)
	if err != nil {
		return err
	}
	if s.DryRun {
		s.Say("[dry-run] the stack file of %s (it holds no secret value):\n%s", s.stack, indent(s.Mask(string(plan.File))))
	}
	for _, obj := range append(append([]swarm.Object{}, plan.Secrets...), plan.Configs...) {
		kind := "secret"
		if slices.ContainsFunc(plan.Configs, func(c swarm.Object) bool { return c.Name == obj.Name }) {
			kind = "config"
		}
		if _, err := s.query(ctx, kind, "inspect", "--format", "{{.ID}}", obj.Name); err == nil {
			continue // named by content: it holds these bytes already
		}
		c := dockerCmd(kind, "create", "--label", "com.dtx.stack="+s.stack, obj.Name, "-")
		c.Stdin, c.StdinNote = bytes.NewReader(obj.Value), "("+obj.Key+")"
		if err := s.Run(ctx, c); err != nil {
			return err
		}
	}
	before := s.updateStatuses(ctx, plan.Services)
	c := dockerCmd("stack", "deploy", "--with-registry-auth", "--prune", "-c", "-", s.stack)
	c.Stdin, c.StdinNote = bytes.NewReader(plan.File), "(the stack file)"
	if err := s.Run(ctx, c); err != nil {
		return err
	}
	if s.DryRun {
		s.Say("[dry-run] wait until every service of %s has converged or rolled back", s.stack)
		return nil
	}
	version, _ := s.Env.Version()
	final, err := s.await(ctx, plan.Services, before)
	if err != nil {
		return err
	}
	failure := s.report(plan.Services, final, "version "+version)
	if failure == nil {
		s.Say("%s: every service converged (version %s)", s.stack, version)
		return nil
	}
	// A release is whole or not at all: the services this deploy updated
	// go back too when another rolled back.
	var back []string
	for _, name := range swarm.RollingServices {
		if final[name].state == "completed" {
			back = append(back, name)
		}
	}
	if len(back) > 0 {
		s.Say("%s: rolling back %s too, so that the release stays whole", s.stack, strings.Join(back, ", "))
		if err := s.rollback(ctx, back); err != nil {
			return fmt.Errorf("%w (and rolling back %s: %v)", failure, strings.Join(back, ", "), err)
		}
	}
	return failure
}

// rollback rolls services back to their previous spec and waits.
func (s *swarmSession) rollback(ctx context.Context, services []string) error {
	before := s.updateStatuses(ctx, services)
	for _, name := range services {
		if err := s.Run(ctx, dockerCmd("service", "rollback", "--detach", s.service(name))); err != nil {
			return err
		}
	}
	if s.DryRun {
		s.Say("[dry-run] wait until the rollbacks have ended")
		return nil
	}
	final, err := s.await(ctx, services, before)
	if err != nil {
		return err
	}
	var bad []string
	for _, name := range services {
		switch o := final[name]; o.state {
		case "rollback_completed", "running":
			s.Say("%s: rolled back to its previous spec", s.service(name))
		default:
			bad = append(bad, fmt.Sprintf("%s: %s %s", s.service(name), strings.ReplaceAll(o.state, "_", " "), o.reason))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("rollback did not complete: %s: see ./dtx swarm:ps", strings.Join(bad, "; "))
	}
	return nil
}

// updateStatus is a service's UpdateStatus as docker service inspect shows it.
type updateStatus struct {
	State     string
	StartedAt string
	Message   string
}

func (s *swarmSession) service(name string) string { return s.stack + "_" + name }

// updateStatuses reads the services' UpdateStatus (a missing service has none).
func (s *swarmSession) updateStatuses(ctx context.Context, services []string) map[string]updateStatus {
	st := map[string]updateStatus{}
	for _, name := range services {
		out, err := s.query(ctx, "service", "inspect", "--format", "{{json .UpdateStatus}}", s.service(name))
		if err != nil {
			continue
		}
		var u updateStatus
		if json.Unmarshal([]byte(strings.TrimSpace(out)), &u) == nil {
			st[name] = u
		}
	}
	return st
}

// replicas reads docker service ls's running/desired per service of the stack.
func (s *swarmSession) replicas(ctx context.Context) (map[string]string, error) {
	out, err := s.query(ctx, "service", "ls", "--filter", "label=com.docker.stack.namespace="+s.stack, "--format", "{{.Name}} {{.Replicas}}")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range splitLines(out) {
		if name, r, ok := strings.Cut(line, " "); ok {
			m[strings.TrimPrefix(name, s.stack+"_")] = strings.Fields(r)[0]
		}
	}
	return m, nil
}

// outcome is how a service's update ended: its UpdateStatus state (or
// "running": no update was needed; "failing": a new service whose tasks
// keep failing) and why, when it failed.
type outcome struct {
	state  string
	reason string
}

func (o outcome) failed() bool { return o.state != "completed" && o.state != "running" }

// await waits until each service's update (one that started after before
// was read) has ended, or, for a service with no update, until its tasks
// all run, and returns how each ended. Swarm's reason for a rollback is in
// its UpdateStatus only while the rollback runs ("update rolled back due to
// failure or early termination of task …"), so it is kept when seen, with
// that task's own status.
func (s *swarmSession) await(ctx context.Context, services []string, before map[string]updateStatus) (map[string]outcome, error) {
	deadline := time.Now().Add(SwarmTimeout)
	start := time.Now()
	final := map[string]outcome{}
	reasons := map[string]string{}
	for {
		now := s.updateStatuses(ctx, services)
		reps, err := s.replicas(ctx)
		if err != nil {
			return nil, err
		}
		pending := []string{}
		for _, name := range services {
			if _, done := final[name]; done {
				continue
			}
			u, had := now[name]
			changed := had && u.StartedAt != "" && u != before[name] && u.StartedAt != before[name].StartedAt
			if changed && reasons[name] == "" && strings.Contains(u.Message, "due to") {
				reasons[name] = u.Message + s.taskStatus(ctx, u.Message)
			}
			switch {
			case changed && (u.State == "updating" || u.State == "rollback_started"):
				pending = append(pending, name)
			case changed:
				r := reasons[name]
				if r == "" {
					r = u.Message + s.taskError(ctx, name)
				}
				final[name] = outcome{state: u.State, reason: r}
			case fullyRunning(reps[name]) && time.Since(start) > 3*time.Second:
				// No update started within 3 s: the service is new or its
				// tasks did not change.
				final[name] = outcome{state: "running"}
			case !changed && time.Since(start) > swarmCrashGrace && s.taskError(ctx, name) != "":
				// A new service whose tasks keep failing (no update to roll
				// back): Swarm would restart them for ever.
				final[name] = outcome{state: "failing", reason: "its tasks keep failing" + s.taskError(ctx, name)}
			default:
				pending = append(pending, name)
			}
		}
		if len(pending) == 0 {
			return final, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: %s did not converge within %s: see ./dtx swarm:ps", s.stack, strings.Join(pending, ", "), SwarmTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(swarmPollEvery):
		}
	}
}

// report says how each service ended, and returns ErrRolledBack with the
// reasons when one failed.
func (s *swarmSession) report(services []string, final map[string]outcome, what string) error {
	var failed []string
	for _, name := range services {
		o := final[name]
		switch o.state {
		case "completed":
			s.Say("%s: updated to %s", s.service(name), what)
		case "running":
			s.Say("%s: running at %s (no rolling update was needed)", s.service(name), what)
		case "rollback_completed":
			s.Say("%s: ROLLED BACK: %s", s.service(name), o.reason)
			failed = append(failed, fmt.Sprintf("%s rolled back: %s", s.service(name), o.reason))
		default:
			s.Say("%s: %s: %s", s.service(name), strings.ReplaceAll(o.state, "_", " "), o.reason)
			failed = append(failed, fmt.Sprintf("%s %s: %s", s.service(name), strings.ReplaceAll(o.state, "_", " "), o.reason))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %s", ErrRolledBack, strings.Join(failed, "; "))
	}
	return nil
}

// taskStatus is ": task ID STATE: ERROR" for the task a rollback message
// names ("… early termination of task ID"), "" when it cannot tell.
func (s *swarmSession) taskStatus(ctx context.Context, message string) string {
	i := strings.LastIndex(message, "task ")
	if i < 0 {
		return ""
	}
	id := strings.Fields(message[i+len("task "):])
	if len(id) == 0 {
		return ""
	}
	out, err := s.query(ctx, "inspect", "--type", "task", "--format", "{{.Status.State}}: {{.Status.Err}}{{.Status.Message}}|{{.Status.ContainerStatus.ContainerID}}", id[0])
	if err != nil {
		return ""
	}
	status, container, _ := strings.Cut(strings.TrimSpace(out), "|")
	return fmt.Sprintf(" (task %s: %s%s)", id[0], status, s.health(ctx, container))
}

// health is "; health check: STATUS, last: exit N OUTPUT" for a task's
// container when the engine the CLI talks to still has it (the manager's
// own tasks), "" otherwise.
func (s *swarmSession) health(ctx context.Context, container string) string {
	if container == "" {
		return ""
	}
	out, err := s.query(ctx, "inspect", "--type", "container", "--format", "{{json .State.Health}}", container)
	if err != nil {
		return ""
	}
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
			msg += " " + s.Mask(stackClip(strings.Join(strings.Fields(o), " ")))
		}
	}
	return msg
}

// taskError is the newest error of the service's tasks, "; task …: error".
func (s *swarmSession) taskError(ctx context.Context, name string) string {
	out, err := s.query(ctx, "service", "ps", "--no-trunc", "--format", "{{.Name}} {{.Error}}", s.service(name))
	if err != nil {
		return ""
	}
	for _, line := range splitLines(out) {
		if task, msg, ok := strings.Cut(line, " "); ok && strings.TrimSpace(msg) != "" {
			return fmt.Sprintf("; task %s: %s", task, strings.TrimSpace(msg))
		}
	}
	return ""
}

func fullyRunning(r string) bool {
	running, desired, ok := strings.Cut(r, "/")
	return ok && running == desired && desired != "0"
}

func stackClip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// SwarmPs lists the stack's services (version, image, replicas) and their tasks.
func SwarmPs(ctx context.Context, o *session.Session) error {
	s, err := openSwarm(o)
	if err != nil {
		return err
	}
	ids, err := s.query(ctx, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+s.stack)
	if err != nil {
		return s.Explain(ctx, dockerCmd("service", "ls"), err)
	}
	if len(strings.Fields(ids)) == 0 {
		s.Say("%s: no service (./dtx swarm:deploy deploys the stack)", s.stack)
		return nil
	}
	fmt.Fprintln(s.Stdout, "SERVICE VERSION UPDATE IMAGE")
	if err := s.Run(ctx, dockerCmd(append([]string{"service", "inspect", "--format",
		`{{.Spec.Name}} {{index .Spec.Labels "com.dtx.version"}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{else}}-{{end}} {{.Spec.TaskTemplate.ContainerSpec.Image}}`},
		strings.Fields(ids)...)...)); err != nil {
		return err
	}
	return s.Run(ctx, dockerCmd("stack", "ps", s.stack, "--format", "table {{.Name}}\t{{.Image}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}"))
}

// SwarmRollback rolls frontend and backend back to their previous spec and
// waits until the rollback has ended.
func SwarmRollback(ctx context.Context, o *session.Session) error {
	s, err := openSwarm(o)
	if err != nil {
		return err
	}
	return s.rollback(ctx, swarm.RollingServices)
}

// SwarmRm removes the stack and waits until its services and networks are
// gone; its volumes (redis's data, the ACME webroot) stay, and so do its
// secrets and configs until the next swarm:rm (a rollback needs them).
func SwarmRm(ctx context.Context, o *session.Session) error {
	s, err := openSwarm(o)
	if err != nil {
		return err
	}
	if err := s.Run(ctx, dockerCmd("stack", "rm", s.stack)); err != nil {
		return err
	}
	if s.DryRun {
		s.Say("[dry-run] wait until the services and networks of %s are gone, then remove its secrets and configs (labelled com.dtx.stack=%s); volumes stay", s.stack, s.stack)
		return nil
	}
	deadline := time.Now().Add(SwarmTimeout)
	for {
		svcs, err := s.query(ctx, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+s.stack)
		if err != nil {
			return err
		}
		nets, err := s.query(ctx, "network", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+s.stack)
		if err != nil {
			return err
		}
		// The manager's own task containers too (on one node: all of them),
		// so that the volumes are free when this returns.
		ctrs, err := s.query(ctx, "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+s.stack)
		if err != nil {
			return err
		}
		if strings.TrimSpace(svcs+nets+ctrs) == "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: services or networks still there after %s: see docker stack ps %s", s.stack, SwarmTimeout, s.stack)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(swarmPollEvery):
		}
	}
	for _, kind := range []string{"secret", "config"} {
		ids, err := s.query(ctx, kind, "ls", "-q", "--filter", "label=com.dtx.stack="+s.stack)
		if err != nil {
			return err
		}
		if f := strings.Fields(ids); len(f) > 0 {
			if err := s.Run(ctx, dockerCmd(append([]string{kind, "rm"}, f...)...)); err != nil {
				return err
			}
		}
	}
	s.Say("removed stack %s; its volumes stay (docker volume ls --filter label=com.docker.stack.namespace=%s)", s.stack, s.stack)
	return nil
}
