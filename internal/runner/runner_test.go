package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newTest(dry bool, secrets ...string) (*Runner, *bytes.Buffer, *bytes.Buffer) {
	var log, out bytes.Buffer
	return &Runner{DryRun: dry, Log: &log, Stdout: &out, Stderr: &out, Secrets: NewMasker(secrets...), Grace: time.Second}, &log, &out
}

func TestArgumentsPassVerbatim(t *testing.T) {
	r, _, out := newTest(false)
	args := []string{"pa$$word", "$(touch x)", "a b", `"q"`, "*"}
	if err := r.Run(context.Background(), Command{Name: "printf", Args: append([]string{"[%s]\n"}, args...), Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	want := "[pa$$word]\n[$(touch x)]\n[a b]\n[\"q\"]\n[*]\n"
	if out.String() != want {
		t.Fatalf("child saw %q, want %q", out.String(), want)
	}
}

func TestExitStatusIsReturned(t *testing.T) {
	r, _, _ := newTest(false)
	err := r.Run(context.Background(), Command{Name: "sh", Args: []string{"-c", "exit 7"}})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 7 {
		t.Fatalf("err = %v, want exit status 7", err)
	}
	if !strings.Contains(err.Error(), "sh -c 'exit 7'") {
		t.Fatalf("error %q does not name the command", err)
	}
}

func TestPrintsMaskedCommandBeforeRunning(t *testing.T) {
	r, log, out := newTest(false, "s3cr3t-value", "s3cr3t")
	err := r.Run(context.Background(), Command{Name: "echo", Args: []string{"--password=s3cr3t-value", "user"}, Env: []string{"API_TOKEN=s3cr3t"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := log.String(); got != "+ API_TOKEN=**** echo --password=**** user\n" {
		t.Fatalf("printed %q", got)
	}
	if !strings.Contains(out.String(), "s3cr3t-value") {
		t.Fatal("the child must still get the real value")
	}
}

func TestDryRunPrintsAndRunsNothing(t *testing.T) {
	r, log, _ := newTest(true)
	marker := filepath.Join(t.TempDir(), "ran")
	if err := r.Run(context.Background(), Command{Name: "touch", Args: []string{marker}}); err != nil {
		t.Fatal(err)
	}
	if out, err := r.Tee(context.Background(), Command{Name: "touch", Args: []string{marker + "2"}}); err != nil || out != "" {
		t.Fatalf("Tee in dry run = %q, %v", out, err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("dry run ran the command")
	}
	if want := "[dry-run] touch " + marker + "\n[dry-run] touch " + marker + "2\n"; log.String() != want {
		t.Fatalf("printed %q, want %q", log.String(), want)
	}
}

func TestMissingProgramSaysInstall(t *testing.T) {
	r, _, _ := newTest(false)
	err := r.Run(context.Background(), Command{Name: "no-such-program-dtx"})
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "no-such-program-dtx") {
		t.Fatalf("err = %v", err)
	}
}

// The child and its own children get SIGINT once when the context ends,
// and the runner waits for them: no orphan is left.
func TestCancelInterruptsTheWholeChildGroup(t *testing.T) {
	r, _, _ := newTest(false)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild")
	script := `sleep 60 & echo $! > "$1"; trap 'kill $!; echo interrupted > "$1.int"; exit 130' INT; wait`
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx, Command{Name: "sh", Args: []string{"-c", script, "sh", pidFile}}) }()
	waitFor(t, func() bool { _, err := os.Stat(pidFile); return err == nil })
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(pidFile + ".int"); err != nil {
		t.Fatal("the child never saw SIGINT")
	}
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	waitFor(t, func() bool { return syscall.Kill(pid, 0) != nil })
}

// A child that ignores SIGINT is killed after the grace period.
func TestCancelKillsAfterGrace(t *testing.T) {
	r, _, _ := newTest(false)
	r.Grace = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.Run(ctx, Command{Name: "sh", Args: []string{"-c", "trap '' INT; sleep 30"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %v: the child was not killed", took)
	}
}

func TestQueryReportsStderrLine(t *testing.T) {
	r, log, _ := newTest(true)
	_, err := r.Query(context.Background(), Command{Name: "sh", Args: []string{"-c", "echo first >&2; echo 'Cannot connect' >&2; exit 1"}})
	if err == nil || !strings.Contains(err.Error(), "Cannot connect") {
		t.Fatalf("err = %v", err)
	}
	if log.Len() != 0 {
		t.Fatal("a query prints nothing")
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{"plain-1.2:x": "plain-1.2:x", "a b": "'a b'", "it's": `'it'\''s'`, "": "''", "$X": "'$X'"} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if ok() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("condition not met in 5 s")
}

// Children start from the runner's environment, not the process's.
func TestChildGetsRunnerEnviron(t *testing.T) {
	r, _, out := newTest(false)
	r.Environ = []string{"PATH=" + os.Getenv("PATH"), "DTX_ONLY=from-runner"}
	if err := r.Run(context.Background(), Command{Name: "sh", Args: []string{"-c", `echo "$DTX_ONLY|$HOME|$EXTRA"`}, Env: []string{"EXTRA=x"}}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "from-runner||x\n" {
		t.Fatalf("child saw %q", out.String())
	}
}

// A command's own Stdout keeps its output (bytes as written, none of it on
// the runner's), and the printed command says where it went.
func TestCommandStdoutKeepsTheStream(t *testing.T) {
	r, log, out := newTest(false)
	var kept bytes.Buffer
	c := Command{Name: "printf", Args: []string{`\000\377REDIS`}, Stdout: &kept, StdoutNote: "backup/redis.rdb"}
	if err := r.Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if kept.String() != "\x00\xffREDIS" || out.Len() != 0 {
		t.Fatalf("kept %q, runner's stdout %q", kept.String(), out.String())
	}
	if !strings.HasSuffix(strings.TrimSpace(log.String()), " > backup/redis.rdb") {
		t.Fatalf("printed %q", log.String())
	}
}

// A command with its own Stdout still sends its standard error to the
// runner's, and the printed command says where the output went.
func TestCommandStdoutLeavesStderrToTheRunner(t *testing.T) {
	r, log, out := newTest(false)
	var own bytes.Buffer
	c := Command{Name: "sh", Args: []string{"-c", "echo data; echo note >&2"}, Stdout: &own, StdoutNote: "(unpacked into results/)"}
	if err := r.Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if own.String() != "data\n" || out.String() != "note\n" {
		t.Fatalf("own stdout %q, runner's output %q", own.String(), out.String())
	}
	if got, want := log.String(), "+ sh -c 'echo data; echo note >&2' > (unpacked into results/)\n"; got != want {
		t.Fatalf("printed %q, want %q", got, want)
	}
}

// Timings records each command run, masked, with its wall time: a call's
// own part is what its commands do not account for. A dry run records
// nothing (nothing ran); a failed command is recorded too.
func TestTimingsRecordEachCommand(t *testing.T) {
	r, _, _ := newTest(false, "s3cr3t")
	var timings bytes.Buffer
	r.Timings = &timings
	if err := r.Run(context.Background(), Command{Name: "sleep", Args: []string{"0.2"}}); err != nil {
		t.Fatal(err)
	}
	r.Run(context.Background(), Command{Name: "sh", Args: []string{"-c", "exit 3", "--token=s3cr3t"}})
	r.DryRun = true
	r.Run(context.Background(), Command{Name: "sleep", Args: []string{"5"}})
	lines := strings.Split(strings.TrimSuffix(timings.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("recorded %q, want the two commands that ran", timings.String())
	}
	fields := strings.Split(lines[0], "\t")
	if len(fields) != 3 || fields[2] != "sleep 0.2" {
		t.Fatalf("first line %q", lines[0])
	}
	if _, err := time.Parse(time.RFC3339Nano, fields[0]); err != nil {
		t.Errorf("start %q: %v", fields[0], err)
	}
	if us, err := strconv.Atoi(fields[1]); err != nil || us < 200_000 || us > 5_000_000 {
		t.Errorf("sleep 0.2 took %s µs", fields[1])
	}
	if !strings.HasSuffix(lines[1], "\tsh -c 'exit 3' --token=****") {
		t.Errorf("second line %q: want the failed command, masked", lines[1])
	}
}
