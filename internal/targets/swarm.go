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
	*session
	stack string // the Swarm stack's name: the compose project prefix
}

func (o Options) openSwarm() (*swarmSession, error) {
	s, err := o.open("release")
	if err != nil {
		return nil, err
	}
	prefix, _ := o.Lookup("COMPOSE_PROJECT_PREFIX")
	if prefix == "" {
		prefix = "dtx"
	}
	return &swarmSession{session: s, stack: prefix}, nil
}

// docker is a docker command (no compose): the CLI reaches the manager
// through DOCKER_HOST or DOCKER_CONTEXT, nothing reads its filesystem.
func dockerCmd(args ...string) runner.Command { return runner.Command{Name: "docker", Args: args} }

// query runs a read-only docker command and returns its output.
func (s *swarmSession) query(ctx context.Context, args ...string) (string, error) {
	return s.run.Query(ctx, dockerCmd(args...))
}

// requireManager checks that the engine the CLI talks to manages a swarm
// and that one of its nodes may hold redis.
func (s *swarmSession) requireManager(ctx context.Context) error {
	out, err := s.query(ctx, "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
	if err != nil {
		return s.explain(ctx, dockerCmd("info"), err)
	}
	if strings.TrimSpace(out) != "active true" {
		return fmt.Errorf("the Docker engine at %s is not a swarm manager (swarm state: %s): run docker swarm init there, or point DOCKER_HOST or DOCKER_CONTEXT at a manager", s.dockerHost(), strings.TrimSpace(out))
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
	version, err := s.env.Version()
	if err != nil {
		return nil, err
	}
	project, err := s.project.Load(ctx, s.Environ)
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
	s.run.Secrets = append(s.run.Secrets, string(key))
	digests := map[string]string{}
	for _, sc := range project.Services {
		if strings.HasPrefix(sc.Image, s.env.Registry()+"/") {
			if d := s.digest(ctx, sc.Image); d != "" {
				digests[sc.Image] = d
			}
		}
	}
	return swarm.Make(swarm.Input{Project: project, Env: s.env, Prefix: s.stack, Version: version,
		Template: tmpl, Cert: cert, Key: key, Digests: digests})
}

// nginxCertificate is the certificate nginx serves: certbot's for DOMAIN
// when this checkout has one (nginx/data/certbot/conf/live/DOMAIN/), else the
// tool's self-signed one in nginx/data/ssl/, made when missing. Both are
// files of the machine the tool runs on, never of a node.
func (s *swarmSession) nginxCertificate() (cert, key []byte, err error) {
	domain := s.env.Value("DOMAIN")
	for _, dir := range []string{filepath.Join("nginx/data/certbot/conf/live", domain), "nginx/data/ssl"} {
		c, cerr := os.ReadFile(filepath.Join(s.Root, dir, swarm.CertFile))
		k, kerr := os.ReadFile(filepath.Join(s.Root, dir, swarm.KeyFile))
		if cerr == nil && kerr == nil {
			return c, k, nil
		}
	}
	names := certNames(domain)
	if s.DryRun {
		s.Say("[dry-run] generate a self-signed certificate for %s in nginx/data/ssl/ (the secret names below are then different)", strings.Join(names, ", "))
		return []byte("self-signed certificate"), []byte("its key"), nil
	}
	dir := filepath.Join(s.Root, "nginx/data/ssl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	if _, err := certs.EnsureSelfSigned(dir, names, s.now()); err != nil {
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
func SwarmDeploy(ctx context.Context, o Options) error {
	s, err := o.openSwarm()
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
		s.Say("[dry-run] the stack file of %s (it holds no secret value):\n%s", s.stack, indent(s.run.Mask(string(plan.File))))
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
		c.Stdin, c.StdinNote = bytes.NewReader(obj.Value), obj.Key
		if err := s.docker(ctx, c); err != nil {
			return err
		}
	}
	before := s.updateStatuses(ctx, plan.Services)
	c := dockerCmd("stack", "deploy", "--with-registry-auth", "--prune", "-c", "-", s.stack)
	c.Stdin, c.StdinNote = bytes.NewReader(plan.File), "the stack file"
	if err := s.docker(ctx, c); err != nil {
		return err
	}
	if s.DryRun {
		s.Say("[dry-run] wait until every service of %s has converged or rolled back", s.stack)
		return nil
	}
	version, _ := s.env.Version()
	return s.await(ctx, plan.Services, before, "version "+version)
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

// await waits until each service's update (one that started after before
// was read) has ended, or, for a service with no update, until its tasks
// all run; then says what happened to each, and fails when one rolled back
// or paused, with Swarm's reason and the failed task's error.
func (s *swarmSession) await(ctx context.Context, services []string, before map[string]updateStatus, what string) error {
	deadline := time.Now().Add(SwarmTimeout)
	start := time.Now()
	final := map[string]string{}
	for {
		now := s.updateStatuses(ctx, services)
		reps, err := s.replicas(ctx)
		if err != nil {
			return err
		}
		pending := []string{}
		for _, name := range services {
			if _, done := final[name]; done {
				continue
			}
			u, had := now[name]
			changed := had && u.StartedAt != "" && u != before[name] && u.StartedAt != before[name].StartedAt
			switch {
			case changed && (u.State == "updating" || u.State == "rollback_started"):
				pending = append(pending, name)
			case changed:
				final[name] = u.State
			case fullyRunning(reps[name]) && time.Since(start) > 3*time.Second:
				// No update started within 3 s: the service is new or its
				// tasks did not change.
				final[name] = "running"
			case !changed && time.Since(start) > swarmCrashGrace && s.taskError(ctx, name) != "":
				// A new service whose tasks keep failing (no update to roll
				// back): Swarm would restart them for ever.
				final[name] = "failing"
			default:
				pending = append(pending, name)
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s did not converge within %s: see ./dtx swarm:ps", s.stack, strings.Join(pending, ", "), SwarmTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(swarmPollEvery):
		}
	}
	var failed []string
	now := s.updateStatuses(ctx, services)
	for _, name := range services {
		switch st := final[name]; st {
		case "completed":
			s.Say("%s: updated to %s", s.service(name), what)
		case "running":
			s.Say("%s: running at %s (no rolling update was needed)", s.service(name), what)
		case "failing":
			s.Say("%s: its tasks keep failing%s", s.service(name), s.taskError(ctx, name))
			failed = append(failed, fmt.Sprintf("%s does not start%s", s.service(name), s.taskError(ctx, name)))
		case "rollback_completed":
			s.Say("%s: ROLLED BACK: %s%s", s.service(name), now[name].Message, s.taskError(ctx, name))
			failed = append(failed, fmt.Sprintf("%s rolled back (%s)%s", s.service(name), now[name].Message, s.taskError(ctx, name)))
		default:
			s.Say("%s: update %s: %s%s", s.service(name), st, now[name].Message, s.taskError(ctx, name))
			failed = append(failed, fmt.Sprintf("%s update %s (%s)%s", s.service(name), st, now[name].Message, s.taskError(ctx, name)))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %s: see ./dtx swarm:ps", ErrRolledBack, strings.Join(failed, "; "))
	}
	s.Say("%s: every service converged (%s)", s.stack, what)
	return nil
}

// taskError is the newest error of the service's tasks, ": task …: error".
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

// SwarmPs lists the stack's services (version, image, replicas) and their tasks.
func SwarmPs(ctx context.Context, o Options) error {
	s, err := o.openSwarm()
	if err != nil {
		return err
	}
	if err := s.docker(ctx, dockerCmd("service", "ls", "--filter", "label=com.docker.stack.namespace="+s.stack,
		"--format", `table {{.Name}}\t{{index .Labels "com.dtx.version"}}\t{{.Replicas}}\t{{.Image}}`)); err != nil {
		return err
	}
	return s.docker(ctx, dockerCmd("stack", "ps", s.stack, "--format", "table {{.Name}}\t{{.Image}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}"))
}

// SwarmRollback rolls frontend and backend back to their previous spec and
// waits until the rollback has ended.
func SwarmRollback(ctx context.Context, o Options) error {
	s, err := o.openSwarm()
	if err != nil {
		return err
	}
	before := s.updateStatuses(ctx, swarm.RollingServices)
	for _, name := range swarm.RollingServices {
		if err := s.docker(ctx, dockerCmd("service", "rollback", "--detach", s.service(name))); err != nil {
			return err
		}
	}
	if s.DryRun {
		s.Say("[dry-run] wait until the rollbacks have ended")
		return nil
	}
	err = s.await(ctx, swarm.RollingServices, before, "the previous spec")
	if errors.Is(err, ErrRolledBack) {
		// Here a rollback is what was asked for.
		s.Say("%s: rolled back %s", s.stack, strings.Join(swarm.RollingServices, ", "))
		return nil
	}
	return err
}

// SwarmRm removes the stack and waits until its services and networks are
// gone; its volumes (redis's data, the ACME webroot) stay, and so do its
// secrets and configs until the next swarm:rm (a rollback needs them).
func SwarmRm(ctx context.Context, o Options) error {
	s, err := o.openSwarm()
	if err != nil {
		return err
	}
	if err := s.docker(ctx, dockerCmd("stack", "rm", s.stack)); err != nil {
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
			if err := s.docker(ctx, dockerCmd(append([]string{kind, "rm"}, f...)...)); err != nil {
				return err
			}
		}
	}
	s.Say("removed stack %s; its volumes stay (docker volume ls --filter label=com.docker.stack.namespace=%s)", s.stack, s.stack)
	return nil
}
