package certbot

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

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/lock"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Certbot gets or keeps the certificate of DOMAIN and www.DOMAIN for the
// stack st (prod or release) through the webroot its running nginx
// serves, reloads nginx and confirms it serves the new certificate.
func Certbot(ctx context.Context, st *session.Stack) error {
	req, issue, err := Decide(st)
	if err != nil || !issue {
		return err
	}
	if err := preflight(ctx, st); err != nil {
		return err
	}
	release, err := takeLock(st.Session, "prod:certbot")
	if err != nil {
		return err
	}
	defer release()
	if err := MakeFolders(st.Session); err != nil {
		return err
	}
	if err := runWithKeys(ctx, st, req.CertonlyCommand(st.Root), req.ServerURL()); err != nil {
		return err
	}
	if err := reloadProxy(ctx, st); err != nil {
		return err
	}
	return confirmServed(ctx, st, req.Domain, filepath.Join(st.Root, req.LiveCert()))
}

// Renew renews every certificate that is due and reloads nginx only when
// one was renewed.
func Renew(ctx context.Context, st *session.Stack) error {
	if err := preflight(ctx, st); err != nil {
		return err
	}
	release, err := takeLock(st.Session, "prod:renew")
	if err != nil {
		return err
	}
	defer release()
	before := liveSerials(st.Root)
	if err := runWithKeys(ctx, st, RenewCommand(st.Root), ""); err != nil {
		return err
	}
	if st.DryRun {
		st.Say("[dry-run] then, only if a certificate changed:")
		return reloadProxy(ctx, st)
	}
	var renewed []string
	for path, serial := range liveSerials(st.Root) {
		if before[path] != serial {
			st.Say("renewed %s", filepath.Dir(path))
			renewed = append(renewed, path)
		}
	}
	if len(renewed) == 0 {
		st.Say("no certificate was due for renewal: nginx not reloaded")
		return nil
	}
	if err := reloadProxy(ctx, st); err != nil {
		return err
	}
	domain := st.Env.Value("DOMAIN")
	for _, path := range renewed {
		if filepath.Base(filepath.Dir(path)) == domain {
			return confirmServed(ctx, st, domain, path)
		}
	}
	return nil
}

// takeLock takes the release stack's lock (see internal/lock) for a run
// that reloads nginx, so that no deploy moves it meanwhile; a dry run
// changes nothing and takes none.
func takeLock(s *session.Session, command string) (release func(), err error) {
	if s.DryRun {
		return func() {}, nil
	}
	l, err := lock.Take(s.Root, command, s.Now())
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// preflight: certbot installed, the compose file valid and the proxy
// (nginx) running in the stack (it serves the ACME challenge); asking
// compose which services run also tells whether the engine answers.
func preflight(ctx context.Context, st *session.Stack) error {
	proxy, err := st.Proxy(ctx)
	if err != nil {
		return err
	}
	if st.DryRun {
		return nil
	}
	if err := NeedInstalled(st.Session); err != nil {
		return err
	}
	ps := st.ComposeCommand("ps", "--status", "running", "--services")
	out, err := st.Query(ctx, ps)
	if err != nil {
		return st.Explain(ctx, ps, err)
	}
	for _, svc := range strings.Fields(out) {
		if svc == proxy.Name {
			return nil
		}
	}
	return fmt.Errorf("%s is not running in the %s stack (project %s): start it first with './dtx stack:up %s'; it serves the ACME challenge", proxy.Name, st.Name(), st.Project.Name, st.Name())
}

// MakeFolders makes certbot's folders in the project.
func MakeFolders(s *session.Session) error {
	dirs := []string{ConfigDir, WorkDir, LogsDir, WebrootDir}
	return s.Act("mkdir -p "+strings.Join(dirs, " "), func() error {
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(s.Root, d), 0o755); err != nil {
				return err
			}
		}
		return nil
	})
}

// runWithKeys runs a certbot command between the keys' handovers: certbot
// reads the current key as the tool's user, nginx reads the keys as its own
// (mode 0600 both times: see session.GiveKeys). The keys go back to nginx's
// user whatever certbot did, so that nginx can still start.
func runWithKeys(ctx context.Context, st *session.Stack, c runner.Command, server string) error {
	if err := st.TakeCertbotKeys(ctx); err != nil {
		return err
	}
	err := Run(ctx, st.Session, c, server)
	if gerr := st.GiveKeys(ctx); gerr != nil {
		if err != nil {
			st.Say("and nginx's keys were not given back: %v", gerr)
			return err
		}
		return gerr
	}
	return err
}

// Run runs a certbot command and turns a failure into its reason.
func Run(ctx context.Context, s *session.Session, c runner.Command, server string) error {
	out, err := s.Tee(ctx, c)
	if err == nil || ctx.Err() != nil {
		return err
	}
	reason := "certbot failed: "
	var exit *runner.ExitError
	if errors.As(err, &exit) {
		reason = fmt.Sprintf("certbot failed (exit %d): ", exit.ExitStatus())
	}
	return session.Explain(reason+Explain(out, s.Root, server), err)
}

// reloadProxy has the proxy (nginx) render its configuration again (it
// picks certbot's certificate once there is one), check it with nginx -t
// and reload; when the check fails, dtx-nginx puts the previous
// configuration back. dtx-nginx reload is the proxy image's contract
// (nginx/entrypoint.sh).
func reloadProxy(ctx context.Context, st *session.Stack) error {
	proxy, err := st.Proxy(ctx)
	if err != nil {
		return err
	}
	if err := st.Compose(ctx, "exec", "-T", proxy.Name, "dtx-nginx", "reload"); err != nil {
		return fmt.Errorf("nginx was not reloaded: %w", err)
	}
	return nil
}

// Decide reads the certificate request of the stack's environment and
// decides, as on one host so in the swarm, whether certbot has work to do
// (none while the certificate covers both names with 30+ days left); it
// says the reason.
func Decide(st *session.Stack) (Request, bool, error) {
	req, err := RequestFromEnv(st.Env)
	if err != nil {
		return req, false, err
	}
	decision := req.Decide(st.Root, st.Now())
	st.Say("%s", decision.Reason)
	return req, decision.Issue, nil
}

// NeedInstalled says how to install certbot when it is not on PATH.
func NeedInstalled(s *session.Session) error {
	if _, ok := s.LookPath("certbot"); !ok {
		return errors.New("certbot is not installed: install it (apt-get install certbot) so that 'certbot --version' works")
	}
	return nil
}

// confirmServed waits until nginx, on this machine's HTTPS port, serves the
// certificate in certFile to a client asking for domain: a reload takes
// effect asynchronously, and the operator wants to know it did.
func confirmServed(ctx context.Context, st *session.Stack, domain, certFile string) error {
	if st.DryRun {
		return nil
	}
	return AwaitServed(ctx, st, "127.0.0.1", domain, certFile, ConfirmTimeout, "reloaded", fmt.Sprintf("check './dtx stack:logs %s'", st.Name()))
}

// ConfirmTimeout bounds the wait for nginx to serve a new certificate on
// one host.
var ConfirmTimeout = 10 * time.Second

// AwaitServed waits, timeout at most, until host's HTTPS port (HTTPS_PORT)
// serves exactly the certificate in certFile to a client asking for domain,
// and says so; else it says what nginx serves instead (it was "reloaded",
// or "updated"), and what to read (hint).
func AwaitServed(ctx context.Context, st *session.Stack, host, domain, certFile string, timeout time.Duration, verb, hint string) error {
	want, err := certs.Read(certFile)
	if err != nil {
		return err
	}
	port := st.Env.Value("HTTPS_PORT")
	if port == "" {
		port = "443"
	}
	addr := net.JoinHostPort(host, port)
	var got *x509.Certificate
	var dialErr error
	err = st.Poll(ctx, session.Wait{What: "nginx serves the new certificate on " + addr, Every: 200 * time.Millisecond, Timeout: timeout},
		func(ctx context.Context) (bool, error) {
			// No chain verification here: the check is stronger, the served
			// leaf must be byte for byte the one certbot wrote.
			got, dialErr = servedLeaf(ctx, addr, domain)
			return dialErr == nil && got.Equal(want), nil
		})
	switch {
	case err == nil:
		if !st.DryRun {
			st.Say("nginx serves the certificate for %s on %s: serial %s, valid until %s", domain, addr, want.SerialNumber.Text(16), want.NotAfter.UTC().Format("2006-01-02"))
		}
		return nil
	case !errors.Is(err, session.ErrTimeout):
		return err
	case dialErr != nil:
		return fmt.Errorf("nginx was %s but %s does not answer TLS for %s (%v): %s", verb, addr, domain, dialErr, hint)
	}
	return fmt.Errorf("nginx was %s but still serves serial %s on %s, not certbot's %s: %s", verb, got.SerialNumber.Text(16), addr, want.SerialNumber.Text(16), hint)
}

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
	paths, _ := filepath.Glob(filepath.Join(root, ConfigDir, "live", "*", certs.CertFile))
	for _, p := range paths {
		if c, err := certs.Read(p); err == nil {
			serials[p] = c.SerialNumber.String()
		}
	}
	return serials
}
