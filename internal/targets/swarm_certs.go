package targets

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/certbot"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// ACMEHookFlag is the first argument with which certbot runs the tool's own
// binary as its manual auth or cleanup hook (see SwarmACMEHook).
const ACMEHookFlag = "-dtx-swarm-acme-hook"

// SwarmCertbot is prod:certbot with STACK=swarm: certbot runs here, hands
// each HTTP-01 challenge to the tool, which writes it into the certbot_www
// volume of every nginx node through a global job, and the new certificate
// and key reach nginx as new secrets by a deploy of the stack (nginx rolls
// onto them). Same decision as on one host: nothing to do while the
// certificate covers both names with more than 30 days left.
func SwarmCertbot(ctx context.Context, o *session.Session) error {
	s, err := openSwarm(o)
	if err != nil {
		return err
	}
	req, issue, err := certbot.Decide(s.Stack)
	if err != nil || !issue {
		return err
	}
	if !s.DryRun {
		if err := certbot.NeedInstalled(s.Session); err != nil {
			return err
		}
		if err := s.requireManager(ctx); err != nil {
			return err
		}
		if _, err := s.query(ctx, "service", "inspect", "--format", "{{.ID}}", s.service("nginx")); err != nil {
			return fmt.Errorf("nginx is not running in the swarm stack %s: deploy it first with './dtx swarm:deploy'; it serves the ACME challenge", s.stack)
		}
	}
	if err := certbot.MakeFolders(s.Session); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	hook := func(phase string) string { return runner.Quote(exe) + " " + ACMEHookFlag + " " + phase }
	c := req.ManualCommand(s.Root, hook("auth"), hook("cleanup"))
	// The hooks run in certbot's environment: the same project, stack and engine.
	c.Env = []string{"DTX_ROOT=" + s.Root}
	if err := certbot.Run(ctx, s.Session, c, req.ServerURL()); err != nil {
		return err
	}
	if s.DryRun {
		s.Say("[dry-run] then deploy the stack again: nginx rolls onto the new certificate and key secrets")
		return nil
	}
	s.Say("rotating nginx's certificate and key secrets: a deploy of the stack (nginx restarts, stop-first)")
	if err := SwarmDeploy(ctx, o); err != nil {
		return err
	}
	return s.confirmServedAt(ctx, req.Domain, filepath.Join(s.Root, req.LiveCert()))
}

// confirmServedAt is confirmServed on the manager's address (the host of
// DOCKER_HOST=ssh://… or tcp://…, else this machine): nginx runs on every
// node, the manager's included, and must serve certbot's new certificate.
func (s *swarmSession) confirmServedAt(ctx context.Context, domain, certFile string) error {
	host := "127.0.0.1"
	if u, err := url.Parse(s.DockerHost()); err == nil && (u.Scheme == "ssh" || u.Scheme == "tcp") && u.Hostname() != "" {
		host = u.Hostname()
	}
	return certbot.AwaitServed(ctx, s.Stack, host, domain, certFile, swarmConfirmTimeout, "updated", "see ./dtx swarm:ps")
}

// swarmConfirmTimeout bounds confirmServedAt: nginx restarts (stop-first).
var swarmConfirmTimeout = 60 * time.Second

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// SwarmACMEHook is the tool run by certbot as its manual hook (phase auth
// or cleanup): it writes (or removes) the challenge CERTBOT_TOKEN with the
// content CERTBOT_VALIDATION in the certbot_www volume of every node that
// runs nginx, through a global job of nginx's image, and waits for it.
func SwarmACMEHook(ctx context.Context, o *session.Session, phase string) error {
	token, _ := o.Lookup("CERTBOT_TOKEN")
	validation, _ := o.Lookup("CERTBOT_VALIDATION")
	if !tokenRE.MatchString(token) || !tokenRE.MatchString(strings.ReplaceAll(validation, ".", "")) {
		return fmt.Errorf("CERTBOT_TOKEN or CERTBOT_VALIDATION is not an ACME token: this hook is run by certbot (prod:certbot STACK=swarm)")
	}
	if phase != "auth" && phase != "cleanup" {
		return fmt.Errorf("hook phase %q: auth or cleanup", phase)
	}
	if root, ok := o.Lookup("DTX_ROOT"); ok {
		o.Root = root
	}
	s, err := openSwarm(o)
	if err != nil {
		return err
	}
	image, err := s.query(ctx, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", s.service("nginx"))
	if err != nil {
		return fmt.Errorf("nginx's image: %w", err)
	}
	dir := "/var/www/certbot/.well-known/acme-challenge"
	script := `mkdir -p "$1" && printf %s "$3" > "$1/$2"`
	if phase == "cleanup" {
		script = `rm -f "$1/$2"`
	}
	name := s.stack + "_acme_" + phase + "_" + fmt.Sprint(time.Now().UnixNano()%1e9)
	create := dockerCmd("service", "create", "--detach", "--quiet", "--name", name, "--mode", "global-job",
		"--restart-condition", "none", "--label", "com.dtx.stack="+s.stack,
		"--mount", "type=volume,source="+s.stack+"_certbot_www,target=/var/www/certbot",
		strings.TrimSpace(image), "sh", "-c", script, "sh", dir, token, validation)
	if err := s.Run(ctx, create); err != nil {
		return err
	}
	defer s.RunQuiet(context.WithoutCancel(ctx), dockerCmd("service", "rm", name))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := s.query(ctx, "service", "ps", "--format", "{{.CurrentState}}|{{.Error}}", name)
		if err != nil {
			return err
		}
		states := splitLines(out)
		done := len(states) > 0
		for _, st := range states {
			if strings.HasPrefix(st, "Failed") || strings.HasPrefix(st, "Rejected") {
				return fmt.Errorf("the ACME challenge job %s failed: %s", name, st)
			}
			if !strings.HasPrefix(st, "Complete") {
				done = false
			}
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the ACME challenge job %s did not complete within 2 minutes: %s", name, strings.Join(states, ", "))
		}
		time.Sleep(300 * time.Millisecond)
	}
}
