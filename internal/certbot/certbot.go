// Package certbot plans the certbot runs of prod:certbot and prod:renew:
// their argv, whether a certificate needs issuing at all, and what a failure
// means for the operator.
package certbot

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Folders of certbot's state, relative to the project root. nginx mounts
// Config (read-only) and Webroot.
const (
	ConfigDir  = stack.CertbotConfig
	WorkDir    = stack.CertbotWork
	LogsDir    = stack.CertbotLogs
	WebrootDir = stack.CertbotWebroot
)

// StagingServer is Let's Encrypt's staging directory, for STAGING=1.
const StagingServer = "https://acme-staging-v02.api.letsencrypt.org/directory"

// RenewBefore is how long before expiry a certificate is renewed; certbot's
// own default for renew is the same 30 days.
const RenewBefore = 30 * 24 * time.Hour

// Request is one certificate for Domain and www.Domain.
type Request struct {
	Domain  string
	Email   string // empty registers without an e-mail
	Staging bool
	Force   bool
	Server  string // ACME directory URL; empty is certbot's default (or staging)
}

// RequestFromEnv reads DOMAIN, CERTBOT_EMAIL, STAGING, FORCE and ACME_SERVER.
func RequestFromEnv(env *stack.Env) (Request, error) {
	r := Request{Domain: strings.TrimSpace(env.Value("DOMAIN")), Email: strings.TrimSpace(env.Value("CERTBOT_EMAIL")), Server: strings.TrimSpace(env.Value("ACME_SERVER"))}
	if r.Domain == "" {
		return r, fmt.Errorf("DOMAIN is empty: set DOMAIN in %s to the name this server answers to, for example DOMAIN=example.com", env.Environment.EnvFile)
	}
	if !validDomain(r.Domain) {
		return r, fmt.Errorf("DOMAIN=%q from %s is not a domain name: give the bare name, for example example.com (no scheme, no www., no path)", r.Domain, env.Source("DOMAIN"))
	}
	if r.Email != "" {
		if _, err := mail.ParseAddress(r.Email); err != nil {
			return r, fmt.Errorf("CERTBOT_EMAIL=%q from %s is not an e-mail address: fix it, or leave it empty to register without one", r.Email, env.Source("CERTBOT_EMAIL"))
		}
	}
	var err error
	if r.Staging, err = flag(env, "STAGING"); err != nil {
		return r, err
	}
	if r.Force, err = flag(env, "FORCE"); err != nil {
		return r, err
	}
	if r.Server != "" {
		u, perr := url.Parse(r.Server)
		if perr != nil || u.Scheme != "https" || u.Host == "" {
			return r, fmt.Errorf("ACME_SERVER=%q from %s is not an https URL of an ACME directory, for example https://acme-v02.api.letsencrypt.org/directory", r.Server, env.Source("ACME_SERVER"))
		}
		if r.Staging {
			return r, fmt.Errorf("STAGING=1 and ACME_SERVER=%s are both set: choose one (unset ACME_SERVER to use Let's Encrypt staging)", r.Server)
		}
	}
	return r, nil
}

// domainRE is compiled on first use, not at start: its counted repetitions
// make it the costliest regexp to compile (88 kB, 450 allocations), and
// every run of the tool links this package, most never checking a domain.
var domainRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
})

func validDomain(d string) bool {
	return len(d) <= 253 && !strings.HasPrefix(d, "www.") && domainRE().MatchString(d)
}

func flag(env *stack.Env, key string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(env.Value(key))) {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q from %s: use 1 or 0", key, env.Value(key), env.Source(key))
}

// Names are the names on the certificate.
func (r Request) Names() []string { return []string{r.Domain, "www." + r.Domain} }

// LiveCert is the certificate certbot keeps current, relative to the root.
func (r Request) LiveCert() string { return filepath.Join(ConfigDir, "live", r.Domain, certs.CertFile) }

func dirArgs() []string {
	return []string{"--config-dir", ConfigDir, "--work-dir", WorkDir, "--logs-dir", LogsDir}
}

// ServerURL is the ACME directory certbot will use, "" for its default.
func (r Request) ServerURL() string {
	if r.Staging {
		return StagingServer
	}
	return r.Server
}

// CertonlyCommand gets the certificate through the webroot nginx serves.
func (r Request) CertonlyCommand(root string) runner.Command {
	args := []string{"certonly", "--webroot", "--webroot-path", WebrootDir,
		"--cert-name", r.Domain, "-d", r.Domain, "-d", "www." + r.Domain}
	args = append(args, dirArgs()...)
	args = append(args, "--non-interactive", "--agree-tos")
	if r.Email != "" {
		args = append(args, "--email", r.Email)
	} else {
		args = append(args, "--register-unsafely-without-email")
	}
	if r.Force {
		args = append(args, "--force-renewal")
	} else {
		args = append(args, "--keep-until-expiring")
	}
	if r.Staging {
		args = append(args, "--staging")
	}
	if r.Server != "" {
		args = append(args, "--server", r.Server)
	}
	return runner.Command{Name: "certbot", Args: args, Dir: root}
}

// RenewCommand renews every certificate in the config folder that is due.
// Without --no-random-sleep-on-renew certbot sleeps up to 8 minutes when not
// on a terminal, as under cron.
func RenewCommand(root string) runner.Command {
	args := append([]string{"renew"}, dirArgs()...)
	args = append(args, "--non-interactive", "--no-random-sleep-on-renew")
	return runner.Command{Name: "certbot", Args: args, Dir: root}
}

// Decision says whether prod:certbot calls certbot, and why.
type Decision struct {
	Issue  bool
	Reason string
}

// Decide reads the live certificate under root: a certificate that covers
// the names and stays valid for more than RenewBefore is kept unless forced.
func (r Request) Decide(root string, now time.Time) Decision {
	path := filepath.Join(root, r.LiveCert())
	cert, err := certs.Read(path)
	switch {
	case r.Force:
		return Decision{true, "FORCE=1: re-issuing"}
	case errors.Is(err, fs.ErrNotExist):
		return Decision{true, "no certificate yet for " + r.Domain}
	case err != nil:
		return Decision{true, fmt.Sprintf("the certificate in %s is unreadable (%v): issuing a new one", r.LiveCert(), err)}
	}
	return decide(cert, r.Names(), now)
}

func decide(cert *x509.Certificate, names []string, now time.Time) Decision {
	left := cert.NotAfter.Sub(now)
	until := cert.NotAfter.UTC().Format("2006-01-02")
	switch {
	case !certs.Covers(cert, names):
		return Decision{true, fmt.Sprintf("the certificate covers %s, not %s: issuing a new one", strings.Join(certs.Names(cert), ", "), strings.Join(names, ", "))}
	case left <= RenewBefore:
		return Decision{true, fmt.Sprintf("the certificate expires on %s, in %d days: renewing", until, int(left.Hours()/24))}
	}
	return Decision{false, fmt.Sprintf("the certificate for %s is valid until %s (%d days): nothing to do (FORCE=1 re-issues)", strings.Join(names, ", "), until, int(left.Hours()/24))}
}

var (
	domainLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^\s*Domain:\s*(\S+)`) })
	detailLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^\s*Detail:\s*(.+)$`) })
	urlRE      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`https?://[^\s"':]+(:\d+)?[^\s"':]*`) })
	logDetail  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`"detail":\s*"((?:[^"\\]|\\.)*)"`) })
	acmeError  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`urn:ietf:params:acme:error:[A-Za-z]+`) })
)

// Explain turns certbot's output into a one-line reason for the operator.
// certbot 2.1 hides every error the ACME server returns behind
// "AttributeError: can't set attribute"; the reason is then in its log.
// server is the ACME directory in use ("" for certbot's default).
func Explain(output, root, server string) string {
	if m := domainLine().FindStringSubmatch(output); m != nil {
		detail := ""
		if d := detailLine().FindStringSubmatch(output); d != nil {
			detail = strings.TrimSpace(d[1])
		}
		msg := fmt.Sprintf("the ACME server could not validate %s: %s", m[1], detail)
		if u := urlRE().FindString(detail); u != "" {
			msg += fmt.Sprintf(" (failed URL %s)", u)
		}
		return msg + ": check that " + m[1] + " resolves to this server, that port 80 reaches nginx, and that nginx serves " + WebrootDir + " at /.well-known/acme-challenge/"
	}
	if strings.Contains(output, "AttributeError: can't set attribute") {
		log, err := os.ReadFile(filepath.Join(root, LogsDir, "letsencrypt.log"))
		if err == nil {
			details := logDetail().FindAllSubmatch(log, -1)
			kinds := acmeError().FindAll(log, -1)
			if len(details) > 0 {
				msg := "the ACME server refused the request: " + strings.ReplaceAll(string(details[len(details)-1][1]), `\"`, `"`)
				if len(kinds) > 0 {
					msg += " (" + string(kinds[len(kinds)-1]) + ")"
				}
				return msg
			}
		}
		return "certbot failed on an error of the ACME server (certbot 2.1 hides it): see " + filepath.Join(LogsDir, "letsencrypt.log")
	}
	for _, needle := range []string{"Failed to establish a new connection", "Max retries exceeded", "Connection refused", "Name or service not known"} {
		if strings.Contains(output, needle) {
			if server == "" {
				server = "Let's Encrypt"
			}
			return "the ACME server " + server + " is unreachable: check ACME_SERVER and the network: " + lastMeaningfulLine(output)
		}
	}
	return lastMeaningfulLine(output)
}

func lastMeaningfulLine(output string) string {
	lines := strings.Split(strings.TrimSpace(output), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "Ask for help") && !strings.HasPrefix(l, "See the logfile") && !strings.HasPrefix(l, "Saving debug log") {
			return l
		}
	}
	return "certbot failed without a message"
}

// ManualCommand gets the certificate like CertonlyCommand, but certbot hands
// each HTTP-01 challenge to authHook and cleanupHook (run by certbot with
// CERTBOT_TOKEN and CERTBOT_VALIDATION set) instead of writing into a local
// webroot: in a swarm the webroot is a volume on the nginx nodes.
func (r Request) ManualCommand(root, authHook, cleanupHook string) runner.Command {
	c := r.CertonlyCommand(root)
	args := []string{"certonly", "--manual", "--preferred-challenges", "http",
		"--manual-auth-hook", authHook, "--manual-cleanup-hook", cleanupHook}
	c.Args = append(args, c.Args[4:]...) // after "certonly --webroot --webroot-path DIR"
	return c
}
