// Package targets is the logic behind every mage target. The magefiles only
// read the process (working directory, environment) into Options and call
// these functions; tests call them the same way over other project roots.
package targets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// Say prints a progress line to Stderr.
func (o Options) Say(format string, args ...any) {
	fmt.Fprintf(o.Stderr, format+"\n", args...)
}

// session is one environment loaded for a target: its env, compose project
// and a runner that masks the environment's secrets.
type session struct {
	Options
	env     *stack.Env
	project compose.Project
	run     *runner.Runner
	engine  bool // the engine answered preflight
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
	r := runner.New(o.DryRun, env.Secrets(o.Environ))
	r.Log, r.Stdout, r.Stderr = o.Stderr, o.Stdout, o.Stderr
	r.Environ = o.Environ
	return &session{Options: o, env: env, project: compose.NewProject(o.Root, env, prefix), run: r}, nil
}

// ready opens environment name, validates its compose file and checks the
// engine: everything a compose command needs before it runs. It returns the
// images the stack's services use.
func (o Options) ready(ctx context.Context, name string) (*session, []string, error) {
	s, err := o.open(name)
	if err != nil {
		return nil, nil, err
	}
	refs, err := s.validate(ctx)
	if err != nil {
		return nil, nil, err
	}
	return s, refs, s.preflight(ctx)
}

// validate loads the compose file through compose-go, so that a bad file or
// a missing required variable stops the target before anything runs.
func (s *session) validate(ctx context.Context) ([]string, error) {
	project, err := s.project.Load(ctx, s.Environ)
	if err != nil {
		return nil, err
	}
	return compose.ImageRefs(project), nil
}

// preflight makes sure docker, the compose plugin and the engine are there.
// A dry run talks to no engine, so it skips this.
func (s *session) preflight(ctx context.Context) error {
	if s.DryRun || s.engine {
		return nil
	}
	if err := EngineReady(ctx, s.run); err != nil {
		return err
	}
	s.engine = true
	return nil
}

// compose runs one docker compose command of the session's project.
func (s *session) compose(ctx context.Context, args ...string) error {
	return s.run.Run(ctx, s.project.Command(args...))
}

// prepareFolders makes what the stack mounts exist before docker would
// create it owned by root, and a self-signed certificate for nginx when there
// is none: the development certificate in debug and test, the temporary one
// in prod and release until certbot's exists.
func (s *session) prepareFolders() error {
	dirs := []string{"nginx/data/ssl", "nginx/data/certbot/www", "nginx/data/certbot/conf", "backend/.redis_data"}
	sslDir := filepath.Join(s.Root, "nginx/data/ssl")
	names := certNames(s.env.Value("DOMAIN"))
	if s.DryRun {
		s.Say("[dry-run] mkdir -p %s", strings.Join(dirs, " "))
		s.Say("[dry-run] generate a self-signed certificate for %s in nginx/data/ssl/ if none is valid there", strings.Join(names, ", "))
		return nil
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(s.Root, d), 0o755); err != nil {
			return err
		}
	}
	wrote, err := certs.EnsureSelfSigned(sslDir, names, s.now())
	if err != nil {
		return fmt.Errorf("nginx/data/ssl: %w", err)
	}
	if wrote {
		s.Say("generated a self-signed certificate for %s in nginx/data/ssl/ (key mode 0600)", strings.Join(names, ", "))
	}
	return nil
}

func certNames(domain string) []string {
	names := []string{"localhost", "127.0.0.1"}
	if domain != "" && domain != "localhost" {
		names = append([]string{domain, "www." + domain}, names...)
	}
	return names
}

// ExitStatus is the exit status mage should end with for err: the child's
// when a command failed, else 1.
func ExitStatus(err error) int {
	var exit *runner.ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	return 1
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
