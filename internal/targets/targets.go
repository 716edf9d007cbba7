// Package targets is the logic behind every mage target. The magefiles only
// read the process (working directory, environment) into Options and call
// these functions; tests call them the same way over other project roots.
package targets

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Options are what a target run depends on from outside.
type Options struct {
	Root    string   // project root: compose files, docker/, nginx/
	Environ []string // the process environment, KEY=value
	DryRun  bool
	// Stdout receives the commands' output and summaries; Stderr the printed
	// commands and progress.
	Stdout, Stderr io.Writer
	Now            func() time.Time

	// mask hides the secrets of the environments opened so far in every
	// line printed (Say) and in the error Do returns; copies of Options
	// share it.
	mask *runner.Masker
}

// Do runs a target's logic fn and returns its error with every secret
// masked: the one place the final error line is cleaned, whatever it
// relays (a command, compose-go's message, certbot's reason).
func (o Options) Do(fn func(Options) error) error {
	if o.mask == nil {
		o.mask = runner.NewMasker()
	}
	return o.mask.Error(fn(o))
}

// FromProcess reads Options from the running process: the working
// directory, os.Environ and DRY_RUN.
func FromProcess() (Options, error) {
	root, err := os.Getwd()
	if err != nil {
		return Options{}, err
	}
	o := Options{Root: root, Environ: os.Environ(), Stdout: os.Stdout, Stderr: os.Stderr, Now: time.Now}
	switch v := strings.TrimSpace(os.Getenv("DRY_RUN")); v {
	case "", "0", "false":
	case "1", "true":
		o.DryRun = true
	default:
		return o, fmt.Errorf("DRY_RUN=%q: use DRY_RUN=1 for a dry run, or unset it", v)
	}
	return o, nil
}

// Lookup reads a variable of Environ.
func (o Options) Lookup(key string) (string, bool) {
	for i := len(o.Environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(o.Environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Say prints a progress line to Stderr, its secrets masked.
func (o Options) Say(format string, args ...any) {
	fmt.Fprintln(o.Stderr, o.mask.Text(fmt.Sprintf(format, args...)))
}

// session is one environment loaded for a target: its env, compose project
// and a runner that masks the environment's secrets.
type session struct {
	Options
	env     *stack.Env
	project compose.Project
	run     *runner.Runner
	refs    []string // the images of the loaded compose file; nil until validate
	// services are the compose project's services, once validate loaded it.
	services []string
	// owners are the folders services write to as a non-root user.
	owners []compose.Owner
	// nginxEnv is nginx's environment as compose resolves it (its
	// upstreams), once validate loaded the project.
	nginxEnv map[string]string
}

// open loads environment name. It reads files only; nothing runs.
func (o Options) open(name string) (*session, error) {
	e, err := stack.LookupEnvironment(name)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(o.Root, e.ComposeFile)); err != nil {
		return nil, fmt.Errorf("%s: compose file of environment %q is missing in %s: run the tool from the project root", e.ComposeFile, name, o.Root)
	}
	env, err := stack.LoadEnv(o.Root, e, o.Environ)
	if err != nil {
		return nil, err
	}
	for _, w := range env.Warnings() {
		o.Say("warning: %s", w)
	}
	prefix, _ := o.Lookup("COMPOSE_PROJECT_PREFIX")
	secrets := env.Secrets(o.Environ)
	if o.mask == nil { // called without Do (tests): the session masks its own lines
		o.mask = runner.NewMasker()
	}
	o.mask.Add(secrets...)
	r := runner.New(o.DryRun, secrets)
	r.Log, r.Stdout, r.Stderr = o.Stderr, o.Stdout, o.Stderr
	r.Environ = o.Environ
	s := &session{Options: o, env: env, project: compose.NewProject(o.Root, env, prefix), run: r}
	if err := s.checkValues(); err != nil {
		return nil, err
	}
	return s, nil
}

// ready opens environment name and validates its compose file: everything a
// compose command needs before it runs. It returns the images the stack's
// services use. The engine is not probed: the command that follows tells,
// and its failure is explained then.
func (o Options) ready(ctx context.Context, name string) (*session, []string, error) {
	s, err := o.open(name)
	if err != nil {
		return nil, nil, err
	}
	refs, err := s.validate(ctx)
	if err != nil {
		return nil, nil, err
	}
	return s, refs, nil
}

// validate loads the compose file through compose-go, once per session, so
// that a bad file or a missing required variable stops the target before
// anything runs.
func (s *session) validate(ctx context.Context) ([]string, error) {
	if s.refs != nil {
		return s.refs, nil
	}
	project, err := s.project.Load(ctx, s.Environ)
	if err != nil {
		return nil, err
	}
	s.services = project.ServiceNames()
	s.nginxEnv = map[string]string{}
	if nginx, ok := project.Services["nginx"]; ok {
		for k, v := range nginx.Environment {
			if v != nil {
				s.nginxEnv[k] = *v
			}
		}
	}
	if s.owners, err = compose.Owners(project, s.Root); err != nil {
		return nil, fmt.Errorf("%s: %w", s.env.Environment.ComposeFile, err)
	}
	s.refs = append([]string{}, compose.ImageRefs(project)...)
	return s.refs, nil
}

// compose runs one docker compose command of the session's project.
func (s *session) compose(ctx context.Context, args ...string) error {
	return s.docker(ctx, s.project.Command(args...))
}

// prepareFolders makes what the stack mounts exist before docker would
// create it owned by root, and a self-signed certificate for nginx when there
// is none: the development certificate in debug and test, the temporary one
// in prod and release until certbot's exists.
func (s *session) prepareFolders(ctx context.Context) error {
	dirs := stack.DataFolders
	sslDir := filepath.Join(s.Root, stack.SSLDir)
	names := certNames(s.env.Value("DOMAIN"))
	if s.DryRun {
		s.Say("[dry-run] mkdir -p %s", strings.Join(dirs, " "))
		s.Say("[dry-run] generate a self-signed certificate for %s in %s/ if none is valid there", strings.Join(names, ", "), stack.SSLDir)
		for _, o := range s.owners {
			s.Say("[dry-run] chown -R %s (the user %s runs as) where it is not theirs", o, o.Service)
		}
		return nil
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(s.Root, d), 0o755); err != nil {
			return err
		}
	}
	wrote, err := certs.EnsureSelfSigned(sslDir, names, s.now())
	if err != nil {
		return fmt.Errorf("%s: %w", stack.SSLDir, err)
	}
	if wrote {
		s.Say("generated a self-signed certificate for %s in %s/ (key mode 0600)", strings.Join(names, ", "), stack.SSLDir)
	}
	for _, o := range s.owners {
		if err := s.giveFolder(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// giveFolder makes o.Dir and what is in it belong to the user its service
// runs as (redis's data may have been written as root by the debug stack):
// directly when the tool runs as root, else through a one-off container of
// the service's image, since the engine can and the user may not.
func (s *session) giveFolder(ctx context.Context, o compose.Owner) error {
	dir := filepath.Join(s.Root, o.Dir)
	var wrong []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != o.UID || int(st.Gid) != o.GID) {
			wrong = append(wrong, path)
		}
		return nil
	})
	if err != nil || len(wrong) == 0 {
		return err
	}
	if os.Geteuid() == 0 {
		for _, path := range wrong {
			if err := os.Lchown(path, o.UID, o.GID); err != nil {
				return err
			}
		}
		s.Say("made %s %d:%d's, the user %s runs as", o.Dir, o.UID, o.GID, o.Service)
		return nil
	}
	return s.docker(ctx, runner.Command{Name: "docker", Args: []string{
		"run", "--rm", "--network", "none", "--user", "0:0", "--entrypoint", "chown",
		"-v", dir + ":/data", o.Image, "-R", fmt.Sprintf("%d:%d", o.UID, o.GID), "/data"}})
}

func certNames(domain string) []string {
	names := []string{"localhost", "127.0.0.1"}
	if domain != "" && domain != "localhost" {
		names = append([]string{domain, "www." + domain}, names...)
	}
	return names
}

func splitLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
