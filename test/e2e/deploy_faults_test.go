package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/loadtest"
)

// killDelay is how long after a step's first line the deploy is killed:
// its command has started by then (the tool prints the step, then the
// command, then runs it). The first step (pull: images the engine has
// come in under 300 ms on Docker 26, and the deploy's first change
// follows) and the last, which writes the record and takes a few hundred
// milliseconds, are killed at once.
func killDelay(step string) time.Duration {
	if step == "pull" || step == "record" {
		return 0
	}
	return 300 * time.Millisecond
}

// killAt runs ./dtx args in the site and kills it with SIGKILL (the real
// process: ./dtx execs the launcher, which execs the tool) killDelay
// after it prints "step STEP:". It returns what it printed and whether it got to
// that step. The commands the tool had started live on, as they would
// after a real kill -9; the test, their subreaper, waits for them to end
// (reapOrphans) before it goes on.
func (s *site) killAt(t *testing.T, step string, extra []string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := s.mageCmd(ctx, extra, args...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	rest := lines // for the drain below: the loop forgets lines once closed
	var out strings.Builder
	killed := false
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			out.WriteString(line + "\n")
			if !killed && strings.HasPrefix(line, "step "+step+":") {
				killed = true
				pid := cmd.Process.Pid
				time.AfterFunc(killDelay(step), func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			}
		case err := <-exited:
			t.Logf("killAt %s: %s: %v", step, strings.Join(args, " "), err)
			done = true
		}
	}
	go func() { // what the orphans still print
		for range rest {
		}
	}()
	reapOrphans(t, 2*time.Minute)
	r.Close()
	return out.String(), killed
}

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER: the processes a
// killed tool leaves become the test's children, to be waited for by PID.
const prSetChildSubreaper = 36

func becomeSubreaper(t *testing.T) {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	t.Cleanup(func() {
		reapOrphans(t, time.Minute)
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
	})
}

// children are the PIDs of this process's children: with no command of
// the test's own running, the orphans of a killed tool.
func children() []int {
	self := strconv.Itoa(os.Getpid())
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so cut after ')'.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == self {
			if pid, err := strconv.Atoi(filepath.Base(dir)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// reapOrphans waits for the orphans of a killed tool to end by themselves
// (a docker stop, a compose create), bound at most, then kills those left,
// each by its PID.
func reapOrphans(t *testing.T, bound time.Duration) {
	deadline := time.Now().Add(bound)
	for {
		pids := children()
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			var ws syscall.WaitStatus
			if time.Now().After(deadline) {
				t.Logf("killing pid %d, left by the killed tool", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				_, _ = syscall.Wait4(pid, &ws, 0, nil)
				continue
			}
			_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// answers checks that the site answers through nginx right now: the page
// and the API, each with a build's marker (the load's stream may have no
// request under way at a given second on a loaded machine).
func answers(t *testing.T, c *http.Client, step string) {
	t.Helper()
	for _, path := range []string{"/", "/api/status"} {
		resp, err := c.Get("https://dtx.test" + path)
		if err != nil {
			t.Errorf("%s: the site does not answer %s: %v", step, path, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "build ") {
			t.Errorf("%s: %s answers %s (%v): %.200q", step, path, resp.Status, err, body)
		}
	}
}

// TestDeployFaults kills prod:deploy with SIGKILL at each of its steps in
// turn, under load, on a stack with a worker and a stop-first beat. After
// each kill the site answers, nginx is not pinned to a container that is
// gone and prod:status says what was interrupted (from the first change
// on); the next prod:deploy, finishing the killed one or undoing it in
// turn, completes with 0 failed requests and every service on its
// version. Then two deploys started together: one runs, one is refused,
// naming the other.
func TestDeployFaults(t *testing.T) {
	requireEngine(t)
	becomeSubreaper(t)
	s := newSite(t)
	t.Cleanup(s.cleanup)
	s.addWorkers(t)
	s.patientHealthChecks(t)
	httpPort, httpsPort := freePort(t), freePort(t)
	base := []string{"HTTP_PORT=" + httpPort, "HTTPS_PORT=" + httpsPort,
		"BACKEND_RATE_LIMIT=10000r/s", "BACKEND_RATE_BURST=10000", "BACKEND_CONN_LIMIT=10000",
		// A pre-deploy command that takes a moment, so it can be killed.
		`PRE_DEPLOY=python3 -c "import time; time.sleep(2)"`}
	all := []string{"frontend", "backend", "worker", "beat", "nginx", "redis"}
	v1, v2 := "1.0.0", "1.1.0"
	s.build(t, "one", v1, true)
	s.build(t, "two", v2, true)
	s.mustMage(base, "prod:deploy", "-version="+v1)
	c, err := loadtest.Client(filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"), "dtx.test", httpsPort)
	if err != nil {
		t.Fatal(err)
	}
	project := s.prefix + "-release"
	other := map[string]string{v1: v2, v2: v1}
	build := map[string]string{v1: "one", v2: "two"}

	current := v1
	// Every step of a roll over a running stack, in order; the in-progress
	// record is written before "prepare", the first change.
	steps := []string{"pull", "prepare", "backup", "pre-deploy", "pin-old", "create", "start-new", "healthy", "stop-first", "pin-new", "drain", "unpin", "record"}
	for i, step := range steps {
		func() {
			// A stream of its own for each kill: one is bounded to
			// loadtest.Max, shorter than the whole test on a loaded machine.
			l := loadtest.Start(c, "https://dtx.test", []string{"one", "two"})
			defer l.Close()
			target := other[current]
			name := fmt.Sprintf("killed at %s", step)
			var out string
			var reached bool
			n, _, _ := l.Phase(func() { out, reached = s.killAt(t, step, base, "prod:deploy", "-version="+target) })
			t.Logf("%s: %d requests, %d failed while the deploy ran and was killed", name, n.Sent, n.Failed())
			if !reached {
				t.Fatalf("%s: the deploy never got to step %s:\n%s", name, step, out)
			}
			answers(t, c, name)
			s.checkPins(t, name)
			status := s.mustMage(base, "prod:status")
			interrupted := fmt.Sprintf("interrupted: the prod:deploy of %s over %s", target, current)
			if changed := i > 0; changed != strings.Contains(status, interrupted) {
				t.Errorf("%s: prod:status should say %q: %v:\n%s", name, interrupted, changed, status)
			}

			// The next deploy: finish the killed one, or undo it, in turn.
			next, verb := target, "finishes it"
			if i%2 == 1 {
				next, verb = current, "undoes it"
			}
			var err error
			n, failures, last := l.Phase(func() { out, err = s.mage(base, "prod:deploy", "-version="+next) })
			t.Logf("%s, then deploy %s: %d requests, %d failed", name, next, n.Sent, n.Failed())
			if err != nil {
				t.Fatalf("%s: the next deploy of %s failed: %v\n%s", name, next, err, out)
			}
			if i > 0 && !strings.Contains(out, "this deploy of "+next+" "+verb) {
				t.Errorf("%s: the next deploy does not say it %s:\n%s", name, verb, out)
			}
			if n.Sent < 5 {
				t.Errorf("%s: only %d requests during the next deploy: the load did not run", name, n.Sent)
			}
			if n.Failed() > 0 || last != build[next] {
				t.Errorf("%s: the next deploy lost %d of %d requests (%s), build %q answers, want %q:\n%s", name, n.Failed(), n.Sent, strings.Join(failures, "; "), last, build[next], out)
			}
			s.onVersion(t, name+", then deployed", next, all...)
			s.checkPins(t, name+", then deployed")
			if status := s.mustMage(base, "prod:status"); strings.Contains(status, "interrupted: ") || !strings.Contains(status, "release stack "+project+": "+next) {
				t.Errorf("%s: after the next deploy:\n%s", name, status)
			}
			current = next
		}()
	}

	// Two deploys at once: one runs, the other is refused at once.
	target := other[current]
	type result struct {
		out string
		err error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			out, err := s.mage(base, "prod:deploy", "-version="+target)
			results <- result{out, err}
		}()
	}
	ran, refused := 0, 0
	for range 2 {
		r := <-results
		var exit *exec.ExitError
		switch {
		case r.err == nil:
			ran++
		case errors.As(r.err, &exit) && strings.Contains(r.out, "another command that changes the release stack is running: prod:deploy (pid "):
			refused++
		default:
			t.Errorf("two deploys at once: %v\n%s", r.err, r.out)
		}
	}
	if ran != 1 || refused != 1 {
		t.Errorf("two deploys at once: %d ran, %d refused; want one of each", ran, refused)
	}
	s.onVersion(t, "two deploys at once", target, all...)
}
