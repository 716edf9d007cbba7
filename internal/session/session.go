package session

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// Session is one target run: its Config, the secrets it has learnt, the
// runner and the clock. Copies of a *Session share all of it.
type Session struct {
	Config
	secrets *runner.Masker // the one list: every line, command and error is masked with it
	run     *runner.Runner
}

// New starts a session. Nothing runs yet.
func New(c Config) *Session {
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	s := &Session{Config: c, secrets: runner.NewMasker()}
	s.run = runner.New(c.DryRun, s.secrets)
	s.run.Log, s.run.Stdout, s.run.Stderr = c.Stderr, c.Stdout, c.Stderr
	s.run.Environ = c.Environ
	if c.Timings != "" {
		s.run.Timings = &timingsFile{path: c.Timings, warn: c.Stderr}
	}
	return s
}

// timingsFile appends each write to the file at path (opened for the
// write: a line at a time, from one process or several), created 0600 if
// need be. A file it cannot write is said once, on warn, and the target
// goes on: the times are an aid, not the job.
type timingsFile struct {
	path   string
	warn   io.Writer
	mu     sync.Mutex // commands may end at once
	failed bool
}

func (f *timingsFile) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed {
		return len(b), nil
	}
	file, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		_, err = file.Write(b)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		f.failed = true
		fmt.Fprintf(f.warn, "dtx: %s: %v: the commands' times are not recorded (set %s to a file you can write, or unset it)\n", TimingsVar, err, TimingsVar)
	}
	return len(b), nil
}

// Do runs a target's logic fn and returns its error with every secret
// masked: the one place the final error line is cleaned, whatever it
// relays (a command, compose-go's message, certbot's reason).
func (s *Session) Do(fn func(*Session) error) error {
	return s.secrets.Error(fn(s))
}

// AddSecrets adds values that must never be printed.
func (s *Session) AddSecrets(values ...string) { s.secrets.Add(values...) }

// Mask returns text with the session's secrets masked.
func (s *Session) Mask(text string) string { return s.secrets.Text(text) }

// Hides tells whether v is or contains a secret.
func (s *Session) Hides(v string) bool { return s.secrets.Hides(v) }

// Masker is the session's list of secrets, for code that renders
// structured output (a build definition, a stack file) masked.
func (s *Session) Masker() *runner.Masker { return s.secrets }

// Say prints a progress line to Stderr, its secrets masked.
func (s *Session) Say(format string, args ...any) {
	fmt.Fprintln(s.Stderr, s.secrets.Text(fmt.Sprintf(format, args...)))
}

// Now is the session clock's time.
func (s *Session) Now() time.Time { return s.clock().Now() }

// After is the session clock's timer: a wait written as a select (on
// docker events, say) waits on it, so that a test's clock drives it.
func (s *Session) After(d time.Duration) <-chan time.Time { return s.clock().After(d) }

// Print prints c as it would run, masked (with the dry run's prefix in a
// dry run), without running it.
func (s *Session) Print(c runner.Command) { s.run.Print(c) }

// Format renders c as it is printed, masked.
func (s *Session) Format(c runner.Command) string { return s.run.Format(c) }

// Run prints c and runs it, its output on the session's; in a dry run it
// only prints. A docker command's failure is explained (see Explain).
func (s *Session) Run(ctx context.Context, c runner.Command) error {
	return s.Explain(ctx, c, s.run.Run(ctx, c))
}

// RunQuiet runs c like Run but without explaining a docker failure: for a
// command whose own failure is the answer (a container's logs, a cleanup).
func (s *Session) RunQuiet(ctx context.Context, c runner.Command) error {
	return s.run.Run(ctx, c)
}

// Tee runs c like Run and also returns everything it printed, for a caller
// that explains a failure from it (certbot).
func (s *Session) Tee(ctx context.Context, c runner.Command) (string, error) {
	return s.run.Tee(ctx, c)
}

// Query runs a read-only command silently and returns its standard output,
// also in a dry run: for the probes the tool decides by, never for a
// command that changes anything.
func (s *Session) Query(ctx context.Context, c runner.Command) (string, error) {
	return s.run.Query(ctx, c)
}

// QueryBoth runs a read-only command like Query and returns its standard
// output and error interleaved, unmasked: the caller masks what it shows.
func (s *Session) QueryBoth(ctx context.Context, c runner.Command) (string, error) {
	return s.run.QueryBoth(ctx, c)
}

// Act does a change the tool makes itself (a folder, a file, a key): in a
// dry run it says "[dry-run] what" and does nothing.
func (s *Session) Act(what string, do func() error) error {
	if s.DryRun {
		s.Say("[dry-run] %s", what)
		return nil
	}
	return do()
}

// Docker is a docker command (no compose): the CLI reaches the engine
// through DOCKER_HOST or DOCKER_CONTEXT.
func Docker(args ...string) runner.Command { return runner.Command{Name: "docker", Args: args} }

// Quiet is the session with its progress lines discarded (its commands
// and secrets are the session's): for opening an environment a second
// time, whose warnings were said once already.
func (s *Session) Quiet() *Session {
	q := *s
	q.Stderr = io.Discard
	return &q
}

// RunAttached runs c like Run, with Ctrl-C (SIGINT) passed on to it instead
// of ending the target: the first asks it to stop (docker compose stops its
// containers gracefully), a second forces it, as compose itself does. It
// says whether it was interrupted; then c's exit is the end the user asked
// for, not a failure. Mage's own handler would cancel the context on the
// first Ctrl-C and exit on the second, leaving compose and its containers
// behind, so it is set aside for the command's lifetime.
func (s *Session) RunAttached(ctx context.Context, c runner.Command) (interrupted bool, err error) {
	if s.DryRun {
		return false, s.Run(ctx, c)
	}
	signal.Reset(os.Interrupt)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	forward := make(chan struct{}, 2)
	var got atomic.Bool
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-sigs:
				got.Store(true)
				forward <- struct{}{}
			case <-done:
				return
			}
		}
	}()
	c.Interrupts = forward
	err = s.Run(ctx, c)
	return got.Load() && ctx.Err() == nil, err
}
