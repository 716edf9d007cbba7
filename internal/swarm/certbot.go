package swarm

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/certbot"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// HookFlag is the first argument with which certbot runs the tool's own
// binary as its manual auth or cleanup hook (see ACMEHook).
const HookFlag = "-dtx-swarm-acme-hook"

// confirmTimeout bounds the wait for the proxy to serve the new
// certificate: it restarts (stop-first).
const confirmTimeout = 60 * time.Second

// jobTimeout bounds the wait for a challenge job; jobEvery is how often
// it is asked about (a job takes about a second).
const (
	jobTimeout = 2 * time.Minute
	jobEvery   = 300 * time.Millisecond
)

// Certbot is prod:certbot with STACK=swarm: certbot runs here, hands
// each HTTP-01 challenge to the tool, which writes it into the webroot
// volume of every node of the proxy through a global job, and the new
// certificate and key reach the proxy as new secrets by a deploy of the
// stack (it rolls onto them). Same decision as on one host: nothing to do
// while the certificate covers both names with more than 30 days left.
func (s *Stack) Certbot(ctx context.Context) error {
	req, issue, err := certbot.Decide(s.Stack)
	if err != nil || !issue {
		return err
	}
	proxy, _, err := s.webroot(ctx)
	if err != nil {
		return err
	}
	site, err := s.Site(ctx)
	if err != nil {
		return err
	}
	if !s.DryRun {
		if err := certbot.NeedInstalled(s.Session); err != nil {
			return err
		}
		if err := s.requireManager(ctx, site); err != nil {
			return err
		}
		if _, err := s.Query(ctx, s.serviceIDCommand(proxy)); err != nil {
			return fmt.Errorf("the proxy %s is not running in the swarm stack %s: deploy it first with './dtx swarm:deploy'; it serves the ACME challenge", proxy, s.Name)
		}
	}
	if err := certbot.MakeFolders(s.Session); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	hook := func(phase string) string { return runner.Quote(exe) + " " + HookFlag + " " + phase }
	c := req.ManualCommand(s.Root, hook("auth"), hook("cleanup"))
	// The hooks run in certbot's environment: the same project, stack and engine.
	c.Env = []string{"DTX_ROOT=" + s.Root}
	if err := certbot.Run(ctx, s.Session, c, req.ServerURL()); err != nil {
		return err
	}
	if s.DryRun {
		s.Say("[dry-run] then deploy the stack again: %s rolls onto the new certificate and key secrets", proxy)
		return nil
	}
	s.Say("rotating %s's certificate and key secrets: a deploy of the stack (%s restarts, stop-first)", proxy, proxy)
	if err := s.Deploy(ctx); err != nil {
		return err
	}
	return certbot.AwaitServed(ctx, s.Stack, s.managerHost(), req.Domain, filepath.Join(s.Root, req.LiveCert()), confirmTimeout, "updated", "see ./dtx swarm:ps")
}

// managerHost is where the new certificate is checked: the host of
// DOCKER_HOST=ssh://… or tcp://…, else this machine. The proxy runs on
// every node, the manager's included.
func (s *Stack) managerHost() string {
	if u, err := url.Parse(s.DockerHost()); err == nil && (u.Scheme == "ssh" || u.Scheme == "tcp") && u.Hostname() != "" {
		return u.Hostname()
	}
	return "127.0.0.1"
}

var tokenRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]+$`) })

// ACMEHook is the tool run by certbot as its manual hook (phase auth or
// cleanup): it writes (or removes) the challenge CERTBOT_TOKEN with the
// content CERTBOT_VALIDATION in the webroot volume of every node that runs
// the proxy, through a global job of the proxy's image, and waits for it.
func ACMEHook(ctx context.Context, o *session.Session, phase string) error {
	token, _ := o.Lookup("CERTBOT_TOKEN")
	validation, _ := o.Lookup("CERTBOT_VALIDATION")
	if !tokenRE().MatchString(token) || !tokenRE().MatchString(strings.ReplaceAll(validation, ".", "")) {
		return fmt.Errorf("CERTBOT_TOKEN or CERTBOT_VALIDATION is not an ACME token: this hook is run by certbot (prod:certbot STACK=swarm)")
	}
	if phase != "auth" && phase != "cleanup" {
		return fmt.Errorf("hook phase %q: auth or cleanup", phase)
	}
	if root, ok := o.Lookup("DTX_ROOT"); ok {
		o.Root = root
	}
	s, err := Open(o)
	if err != nil {
		return err
	}
	proxy, webroot, err := s.webroot(ctx)
	if err != nil {
		return err
	}
	image, err := s.Query(ctx, s.serviceImageCommand(proxy))
	if err != nil {
		return fmt.Errorf("the image of the proxy %s: %w", proxy, err)
	}
	name := s.Name + "_acme_" + phase + "_" + fmt.Sprint(s.Now().UnixNano()%1e9)
	if err := s.Run(ctx, s.challengeJobCommand(name, strings.TrimSpace(image), webroot, phase, token, validation)); err != nil {
		return err
	}
	defer s.RunQuiet(context.WithoutCancel(ctx), removeServiceCommand(name))
	var states []string
	err = s.Poll(ctx, session.Wait{What: "the ACME challenge job " + name + " has completed", Every: jobEvery, Timeout: jobTimeout}, func(ctx context.Context) (bool, error) {
		out, err := s.Query(ctx, jobTasksCommand(name))
		if err != nil {
			return true, err
		}
		var done bool
		states, done, err = JobDone(out)
		if err != nil {
			return true, fmt.Errorf("the ACME challenge job %s failed: %w", name, err)
		}
		return done, nil
	})
	if errors.Is(err, session.ErrTimeout) {
		return fmt.Errorf("the ACME challenge job %s did not complete within 2 minutes: %s", name, strings.Join(states, ", "))
	}
	return err
}

// webroot names the stack's proxy and where it mounts the ACME webroot
// (the compose file's bind mount of stack.CertbotWebroot, which the stack
// makes the webroot volume).
func (s *Stack) webroot(ctx context.Context) (proxy, target string, err error) {
	p, err := s.Proxy(ctx)
	if err != nil {
		return "", "", err
	}
	model, err := s.Load(ctx)
	if err != nil {
		return "", "", err
	}
	if t := WebrootTarget(model.Services[p.Name], s.Root); t != "" {
		return p.Name, t, nil
	}
	return "", "", fmt.Errorf("%s: the proxy %s does not mount ./%s (the ACME webroot) anywhere: add it to its volumes (./%s/:/var/www/certbot/:ro)", s.Env.Environment.ComposeFile, p.Name, stack.CertbotWebroot, stack.CertbotWebroot)
}

// WebrootTarget is where service sc bind-mounts the ACME webroot
// (stack.CertbotWebroot under root), "" when it does not.
func WebrootTarget(sc types.ServiceConfig, root string) string {
	for _, v := range sc.Volumes {
		if v.Type == types.VolumeTypeBind && filepath.Clean(v.Source) == filepath.Join(root, stack.CertbotWebroot) {
			return v.Target
		}
	}
	return ""
}

// JobDone reads `docker service ps --format '{{.CurrentState}}|{{.Error}}'`
// of a global job: its tasks' states, whether every task has completed
// (none listed yet is not done), and an error, the task's "STATE|ERROR",
// as soon as one failed or was rejected.
func JobDone(out string) (states []string, done bool, err error) {
	states = lines(out)
	done = len(states) > 0
	for _, st := range states {
		if strings.HasPrefix(st, "Failed") || strings.HasPrefix(st, "Rejected") {
			return states, false, errors.New(st)
		}
		if !strings.HasPrefix(st, "Complete") {
			done = false
		}
	}
	return states, done, nil
}
