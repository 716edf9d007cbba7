package targets

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/certbot"
	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// openServing opens the stack whose nginx serves the site: STACK, prod by
// default.
func openServing(o *session.Session) (*session.Stack, error) {
	name, _ := o.Lookup("STACK")
	switch name {
	case "":
		name = "prod"
	case "prod", "release":
	default:
		return nil, fmt.Errorf("STACK=%q: certificates are for the prod or release stack, or the swarm; use STACK=prod, STACK=release or STACK=swarm", name)
	}
	return o.Open(name)
}

// Certbot gets or keeps the Let's Encrypt certificate of DOMAIN and
// www.DOMAIN through the webroot the running nginx serves, then reloads nginx.
func Certbot(ctx context.Context, o *session.Session) error {
	if stack, _ := o.Lookup("STACK"); stack == "swarm" {
		return SwarmCertbot(ctx, o)
	}
	s, err := openServing(o)
	if err != nil {
		return err
	}
	req, issue, err := certbotDecision(s)
	if err != nil || !issue {
		return err
	}
	if err := certbotPreflight(ctx, s); err != nil {
		return err
	}
	if err := makeCertbotFolders(s.Session); err != nil {
		return err
	}
	if err := runCertbot(ctx, s.Session, req.CertonlyCommand(s.Root), req.ServerURL()); err != nil {
		return err
	}
	if err := reloadNginx(ctx, s); err != nil {
		return err
	}
	return confirmServed(ctx, s, req.Domain, filepath.Join(s.Root, req.LiveCert()))
}

// Renew renews every certificate that is due and reloads nginx only when
// one was renewed.
func Renew(ctx context.Context, o *session.Session) error {
	if stack, _ := o.Lookup("STACK"); stack == "swarm" {
		return errors.New("STACK=swarm: run ./dtx prod:certbot STACK=swarm instead (twice a day: it renews when 30 days or fewer are left)")
	}
	s, err := openServing(o)
	if err != nil {
		return err
	}
	if err := certbotPreflight(ctx, s); err != nil {
		return err
	}
	before := liveSerials(s.Root)
	if err := runCertbot(ctx, s.Session, certbot.RenewCommand(s.Root), ""); err != nil {
		return err
	}
	if s.DryRun {
		s.Say("[dry-run] then, only if a certificate changed:")
		return reloadNginx(ctx, s)
	}
	var renewed []string
	for path, serial := range liveSerials(s.Root) {
		if before[path] != serial {
			s.Say("renewed %s", filepath.Dir(path))
			renewed = append(renewed, path)
		}
	}
	if len(renewed) == 0 {
		s.Say("no certificate was due for renewal: nginx not reloaded")
		return nil
	}
	if err := reloadNginx(ctx, s); err != nil {
		return err
	}
	domain := s.Env.Value("DOMAIN")
	for _, path := range renewed {
		if filepath.Base(filepath.Dir(path)) == domain {
			return confirmServed(ctx, s, domain, path)
		}
	}
	return nil
}

// certbotPreflight: certbot installed, the compose file valid and nginx
// running in the stack (it serves the ACME challenge); asking compose which
// services run also tells whether the engine answers.
func certbotPreflight(ctx context.Context, s *session.Stack) error {
	if _, err := s.Load(ctx); err != nil {
		return err
	}
	if s.DryRun {
		return nil
	}
	if err := needCertbot(s.Session); err != nil {
		return err
	}
	ps := s.ComposeCommand("ps", "--status", "running", "--services")
	out, err := s.Query(ctx, ps)
	if err != nil {
		return s.Explain(ctx, ps, err)
	}
	for _, svc := range splitLines(out) {
		if svc == "nginx" {
			return nil
		}
	}
	return fmt.Errorf("nginx is not running in the %s stack (project %s): start it first with './dtx stack:up %s'; it serves the ACME challenge", s.Name(), s.Project.Name, s.Name())
}

func makeCertbotFolders(s *session.Session) error {
	dirs := []string{certbot.ConfigDir, certbot.WorkDir, certbot.LogsDir, certbot.WebrootDir}
	return s.Act("mkdir -p "+strings.Join(dirs, " "), func() error {
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(s.Root, d), 0o755); err != nil {
				return err
			}
		}
		return nil
	})
}

// certbot runs a certbot command and turns a failure into its reason.
func runCertbot(ctx context.Context, s *session.Session, c runner.Command, server string) error {
	out, err := s.Tee(ctx, c)
	if err == nil || ctx.Err() != nil {
		return err
	}
	reason := "certbot failed: "
	var exit *runner.ExitError
	if errors.As(err, &exit) {
		reason = fmt.Sprintf("certbot failed (exit %d): ", exit.ExitStatus())
	}
	return session.Explain(reason+certbot.Explain(out, s.Root, server), err)
}

// reloadNginx has nginx render its configuration again (it picks certbot's
// certificate once there is one), check it with nginx -t and reload; when
// the check fails, dtx-nginx puts the previous configuration back.
func reloadNginx(ctx context.Context, s *session.Stack) error {
	if err := s.Compose(ctx, "exec", "-T", "nginx", "dtx-nginx", "reload"); err != nil {
		return fmt.Errorf("nginx was not reloaded: %w", err)
	}
	return nil
}

// certbotDecision reads the certificate request of the environment and
// decides, as on one host so in the swarm, whether certbot has work to do
// (none while the certificate covers both names with 30+ days left); it
// says the reason.
func certbotDecision(s *session.Stack) (certbot.Request, bool, error) {
	req, err := certbot.RequestFromEnv(s.Env)
	if err != nil {
		return req, false, err
	}
	decision := req.Decide(s.Root, s.Now())
	s.Say("%s", decision.Reason)
	return req, decision.Issue, nil
}

// needCertbot says how to install certbot when it is not on PATH.
func needCertbot(s *session.Session) error {
	if _, ok := s.LookPath("certbot"); !ok {
		return errors.New("certbot is not installed: install it (apt-get install certbot) so that 'certbot --version' works")
	}
	return nil
}

// confirmServed waits until nginx, on this machine's HTTPS port, serves the
// certificate in certFile to a client asking for domain: a reload takes
// effect asynchronously, and the operator wants to know it did.
func confirmServed(ctx context.Context, s *session.Stack, domain, certFile string) error {
	if s.DryRun {
		return nil
	}
	return awaitServed(ctx, s, "127.0.0.1", domain, certFile, confirmTimeout, "reloaded", fmt.Sprintf("check './dtx stack:logs %s'", s.Name()))
}

// awaitServed waits, timeout at most, until host's HTTPS port (HTTPS_PORT)
// serves exactly the certificate in certFile to a client asking for domain,
// and says so; else it says what nginx serves instead (it was "reloaded",
// or "updated"), and what to read (hint).
func awaitServed(ctx context.Context, s *session.Stack, host, domain, certFile string, timeout time.Duration, verb, hint string) error {
	want, err := certs.Read(certFile)
	if err != nil {
		return err
	}
	port := s.Env.Value("HTTPS_PORT")
	if port == "" {
		port = "443"
	}
	addr := net.JoinHostPort(host, port)
	var got *x509.Certificate
	deadline := time.Now().Add(timeout)
	for {
		// No chain verification here: the check is stronger, the served
		// leaf must be byte for byte the one certbot wrote.
		got, err = servedLeaf(ctx, addr, domain)
		if err == nil && got.Equal(want) {
			s.Say("nginx serves the certificate for %s on %s: serial %s, valid until %s", domain, addr, want.SerialNumber.Text(16), want.NotAfter.UTC().Format("2006-01-02"))
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("nginx was %s but %s does not answer TLS for %s (%v): %s", verb, addr, domain, err, hint)
	}
	return fmt.Errorf("nginx was %s but still serves serial %s on %s, not certbot's %s: %s", verb, got.SerialNumber.Text(16), addr, want.SerialNumber.Text(16), hint)
}

// confirmTimeout bounds confirmServed.
var confirmTimeout = 10 * time.Second

func servedLeaf(ctx context.Context, addr, serverName string) (*x509.Certificate, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: &tls.Config{ServerName: serverName, InsecureSkipVerify: true}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// liveSerials maps each live certificate to its serial number.
func liveSerials(root string) map[string]string {
	serials := map[string]string{}
	paths, _ := filepath.Glob(filepath.Join(root, certbot.ConfigDir, "live", "*", certs.CertFile))
	for _, p := range paths {
		if c, err := certs.Read(p); err == nil {
			serials[p] = c.SerialNumber.String()
		}
	}
	return serials
}
