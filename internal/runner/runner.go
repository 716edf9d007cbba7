// Package runner is the one way this tool runs an external command. It prints
// the command before running it with secret values masked, prints and skips it
// in a dry run, passes arguments verbatim (no shell, no $ expansion), stops the
// child when the context ends, and returns the child's exit status.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Command is an external command as a value: it can print itself before it runs.
type Command struct {
	Name string
	Args []string
	Dir  string   // working directory; empty is the current one
	Env  []string // KEY=value added to the inherited environment

	// Stdin feeds the child; StdinNote says what it is when the command is
	// printed ("< build definition"), since its content is not shown.
	Stdin     io.Reader
	StdinNote string

	// Stdout, when set, receives the child's standard output instead of
	// the runner's: a stream the tool keeps (a backup, the browser tests'
	// results as a tar), never printed. StdoutNote says where it goes when
	// the command is printed.
	Stdout     io.Writer
	StdoutNote string

	// Interactive commands share the terminal: they stay in our process
	// group, read our stdin, and get Ctrl-C from the terminal directly.
	Interactive bool

	// Interrupts, when set, passes each Ctrl-C on to a command that is not
	// Interactive: every value received sends SIGINT to its process group,
	// as the terminal would (docker compose stops its containers on the
	// first and kills them on the second). The context still ends the
	// command as usual.
	Interrupts <-chan struct{}
}

// String renders the command as a shell would need it typed, unmasked.
func (c Command) String() string {
	parts := []string{}
	for _, kv := range c.Env {
		parts = append(parts, Quote(kv))
	}
	parts = append(parts, Quote(c.Name))
	for _, a := range c.Args {
		parts = append(parts, Quote(a))
	}
	s := strings.Join(parts, " ")
	if c.StdinNote != "" {
		s += " < " + c.StdinNote
	}
	if c.StdoutNote != "" {
		s += " > " + c.StdoutNote
	}
	return s
}

// Quote quotes s for a POSIX shell when it needs it.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ExitError is a command that ran and exited non-zero. Its ExitStatus is what
// mage exits with when a target returns it.
type ExitError struct {
	Command string // as printed, masked
	Code    int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s: exit status %d", e.Command, e.Code)
}

// ExitStatus is the child's exit status.
func (e *ExitError) ExitStatus() int { return e.Code }

// ErrNotInstalled is returned (wrapped) when the program is not on PATH.
var ErrNotInstalled = errors.New("not installed")

// Runner runs Commands.
type Runner struct {
	DryRun bool
	// Log receives the printed commands; Stdout and Stderr the child's output.
	Log, Stdout, Stderr io.Writer
	// Secrets are masked in every printed command and relayed message, by
	// the rule of Masker; nil masks nothing. The session shares its one
	// Masker with its runner, so a secret learnt later is masked too.
	Secrets *Masker
	// Environ is the environment children start from (KEY=value); nil is
	// this process's. The tool sets it to the one it validated against.
	Environ []string
	// Grace is how long a child gets to stop after SIGINT before it is
	// killed; zero is DefaultGrace.
	Grace time.Duration
	// Timings receives a line for each command run, once it ended: when
	// it started (RFC 3339, UTC), its wall time in microseconds and the
	// command as printed (masked), tab-separated; nil records none. What
	// the tool's own part of a call is follows: the call's time minus its
	// commands' (DTX_TIMINGS, see the session).
	Timings io.Writer
}

// DefaultGrace stays below the 5 s the compiled mage binary waits after
// Ctrl-C before it exits.
const DefaultGrace = 4 * time.Second

// New returns a Runner writing to the process's stdout and stderr.
func New(dryRun bool, secrets *Masker) *Runner {
	return &Runner{DryRun: dryRun, Log: os.Stderr, Stdout: os.Stdout, Stderr: os.Stderr, Secrets: secrets}
}

// Masker is the runner's Masker (see Masker for the rule); never nil.
func (r *Runner) Masker() *Masker {
	if r.Secrets == nil {
		return &Masker{}
	}
	return r.Secrets
}

// Mask returns s with the runner's secrets masked, for free text (a
// message, a child's error line).
func (r *Runner) Mask(s string) string { return r.Masker().Text(s) }

// Format renders c as it is printed: each argument masked, then quoted.
func (r *Runner) Format(c Command) string { return r.Masker().Command(c) }

// Print writes the command as it would run, masked, to the log.
func (r *Runner) Print(c Command) {
	prefix := "+ "
	if r.DryRun {
		prefix = "[dry-run] "
	}
	fmt.Fprintln(r.Log, prefix+r.Format(c))
}

// Run prints c and runs it with its output going to the runner's Stdout and
// Stderr. In a dry run it only prints.
func (r *Runner) Run(ctx context.Context, c Command) error {
	r.Print(c)
	if r.DryRun {
		return nil
	}
	return r.run(ctx, c, r.Stdout, r.Stderr)
}

// Tee prints c and runs it like Run, and also returns everything it wrote
// to stdout and stderr, for a caller that explains a failure.
func (r *Runner) Tee(ctx context.Context, c Command) (string, error) {
	r.Print(c)
	if r.DryRun {
		return "", nil
	}
	var both bytes.Buffer
	err := r.run(ctx, c, io.MultiWriter(r.Stdout, &both), io.MultiWriter(r.Stderr, &both))
	return both.String(), err
}

// Query runs c silently and returns its standard output, also in a dry run.
// It is for read-only probes (versions, whether the engine answers) that the
// tool needs to decide what to do, never for a command that changes anything.
func (r *Runner) Query(ctx context.Context, c Command) (string, error) {
	var stdout, stderr bytes.Buffer
	err := r.run(ctx, c, &stdout, &stderr)
	var exit *ExitError
	if errors.As(err, &exit) {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return stdout.String(), fmt.Errorf("%w: %s", err, r.Mask(lastLine(msg)))
		}
	}
	return stdout.String(), err
}

// QueryBoth runs c silently like Query and returns its standard output and
// error interleaved as it wrote them (one writer for both): for a read
// whose answer is on both streams (docker service logs relays a task's
// stderr on its own), to be masked and shown by the caller.
func (r *Runner) QueryBoth(ctx context.Context, c Command) (string, error) {
	var both bytes.Buffer
	err := r.run(ctx, c, &both, &both)
	return both.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func (r *Runner) run(ctx context.Context, c Command, stdout, stderr io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := exec.LookPath(c.Name)
	if err != nil {
		return fmt.Errorf("%s: %w: install it and make sure it is on PATH", c.Name, ErrNotInstalled)
	}
	cmd := exec.Command(path, c.Args...)
	cmd.Dir = c.Dir
	if r.Environ != nil || len(c.Env) > 0 {
		base := r.Environ
		if base == nil {
			base = os.Environ()
		}
		cmd.Env = append(append([]string(nil), base...), c.Env...)
	}
	if c.Stdout != nil {
		stdout = c.Stdout
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Stdin = c.Stdin
	if c.Interactive {
		if cmd.Stdin == nil {
			cmd.Stdin = os.Stdin
		}
	} else {
		// A child of its own process group: the terminal's Ctrl-C reaches only
		// us, and we pass it on once, so docker compose stops gracefully
		// instead of seeing a second Ctrl-C and forcing.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", r.Format(c), err)
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for waiting := true; waiting; {
			select {
			case <-done:
				return
			case <-c.Interrupts:
				if !c.Interactive {
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
				}
			case <-ctx.Done():
				waiting = false
			}
		}
		if !c.Interactive {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		}
		select {
		case <-done:
		case <-time.After(r.grace()):
			if c.Interactive {
				_ = cmd.Process.Kill()
			} else {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	<-stopped
	if r.Timings != nil {
		fmt.Fprintf(r.Timings, "%s\t%d\t%s\n", start.UTC().Format(time.RFC3339Nano), time.Since(start).Microseconds(), r.Format(c))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: stopped: %w", r.Format(c), ctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code := exitErr.ExitCode()
		if code < 0 { // killed by a signal
			code = 128 + int(exitErr.Sys().(syscall.WaitStatus).Signal())
		}
		return &ExitError{Command: r.Format(c), Code: code}
	}
	return err
}

func (r *Runner) grace() time.Duration {
	if r.Grace > 0 {
		return r.Grace
	}
	return DefaultGrace
}
