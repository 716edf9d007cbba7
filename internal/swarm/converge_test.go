package swarm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// call is one docker command a real swarm target ran, as recorded in
// testdata/converge/*.jsonl (see testdata/README.md): when it started (s),
// its exit status, its arguments and its standard output.
type call struct {
	T    float64  `json:"t"`
	RC   int      `json:"rc"`
	Argv []string `json:"argv"`
	Out  string   `json:"out"`
}

func readCalls(t *testing.T, name string) []call {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "converge", name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []call
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		calls = append(calls, c)
	}
	return calls
}

func (c call) is(args ...string) bool {
	return len(c.Argv) >= len(args) && slices.Equal(c.Argv[:len(args)], args)
}

func (c call) last() string { return c.Argv[len(c.Argv)-1] }

// The calls by what they read (the argvs of commands.go; the recordings
// made before the move read the task errors with docker service ps, one
// service at a time, in the same format).
func (c call) statusOf(stack string) (string, bool) {
	if c.is("service", "inspect", "--format", "{{json .UpdateStatus}}") {
		return strings.TrimPrefix(c.last(), stack+"_"), true
	}
	return "", false
}
func (c call) marker() bool {
	return c.is("stack", "deploy") || c.is("service", "rollback")
}

// wait is one recorded wait: the services' statuses read before the
// deploy or rollback, and the calls of its looks.
type wait struct {
	services []string
	before   map[string]UpdateStatus
	calls    []call
}

// waits splits a recording at its deploys and rollbacks (markers): the
// statuses read just before a marker are that wait's "before", and its
// looks run from the marker to the next wait's "before".
func waits(t *testing.T, calls []call, stack string) []wait {
	type span struct{ from, marker, to int } // before: from..marker-1; markers: marker..to
	var spans []span
	for i := 0; i < len(calls); i++ {
		if !calls[i].marker() {
			continue
		}
		sp := span{from: i, marker: i, to: i}
		for sp.from > 0 {
			if _, ok := calls[sp.from-1].statusOf(stack); !ok {
				break
			}
			sp.from--
		}
		for sp.to+1 < len(calls) && calls[sp.to+1].marker() {
			sp.to++
		}
		if sp.from == sp.marker {
			t.Fatalf("no status read before %q", calls[i].Argv)
		}
		spans = append(spans, sp)
		i = sp.to
	}
	var ws []wait
	for n, sp := range spans {
		w := wait{before: map[string]UpdateStatus{}}
		for _, k := range calls[sp.from:sp.marker] {
			name, _ := k.statusOf(stack)
			w.services = append(w.services, name)
			if u, ok := ParseUpdateStatus(k.Out); ok && k.RC == 0 {
				w.before[name] = u
			}
		}
		end := len(calls)
		if n+1 < len(spans) {
			end = spans[n+1].from
		}
		w.calls = calls[sp.to+1 : end]
		ws = append(ws, w)
	}
	return ws
}

// replay feeds a recorded wait's looks to Convergence, look by look, and
// returns the outcomes and the look at which it was done (1-based) out of
// how many the recording has, and when (since the wait began) each service
// was decided.
func replay(t *testing.T, w wait, stack string) (final map[string]Outcome, doneAt, looks int, decided map[string]time.Duration) {
	c := NewConvergence(w.services, w.before)
	decided = map[string]time.Duration{}
	start := w.calls[0].T
	var l *Look
	var asked map[string]string // task ID -> service
	var lastT float64
	step := func() {
		if l == nil {
			return
		}
		looks++
		l.Since = time.Duration((lastT - start) * float64(time.Second))
		if pending := c.Step(*l); len(pending) == 0 && doneAt == 0 {
			doneAt = looks
		}
		for name := range c.Final {
			if _, seen := decided[name]; !seen {
				decided[name] = l.Since
			}
		}
	}
	var task, taskOut string
	ask := func() {
		if asked == nil {
			asked = map[string]string{}
			for svc, id := range c.Asks(*l) {
				asked[id] = svc
			}
		}
	}
	for _, k := range w.calls {
		lastT = k.T
		name, isStatus := k.statusOf(stack)
		switch {
		case isStatus && name == w.services[0]:
			step()
			l = &Look{Status: map[string]UpdateStatus{}, TaskStatus: map[string]string{}}
			asked = nil
			fallthrough
		case isStatus:
			if u, ok := ParseUpdateStatus(k.Out); ok && k.RC == 0 {
				l.Status[name] = u
			}
		case k.is("service", "ls", "--filter"):
			l.Replicas = ParseReplicas(k.Out, stack)
		case k.is("stack", "ps", "--no-trunc"), k.is("service", "ps", "--no-trunc"):
			l.Tasks = append(l.Tasks, ParseTasks(tasksOf(k), stack)...)
		case k.is("inspect", "--type", "task"):
			ask()
			task, taskOut = k.last(), k.Out
			status, _ := ParseTask(taskOut)
			l.TaskStatus[asked[task]] = TaskStatus(task, status, "")
		case k.is("inspect", "--type", "container"):
			status, _ := ParseTask(taskOut)
			l.TaskStatus[asked[task]] = TaskStatus(task, status, Health(k.Out))
		}
	}
	step()
	return c.Final, doneAt, looks, decided
}

// tasksOf is the output of a recorded tasks listing in the format of
// tasksCommand: the recordings made before it listed the tasks' states
// printed NAME ERROR, which is read as a task of unknown state.
func tasksOf(k call) string {
	if slices.Contains(k.Argv, "{{.ID}}|{{.Name}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}") {
		return k.Out
	}
	var b strings.Builder
	for _, line := range lines(k.Out) {
		name, msg, _ := strings.Cut(line, " ")
		fmt.Fprintf(&b, "?|%s|||%s\n", name, msg)
	}
	return b.String()
}

// Each recorded wait, replayed look by look, ends at the very look at
// which the live run ended it, with the lines that run printed (and,
// where it failed, its error). The old-* recordings are of the run before
// it moved here (task errors read with docker service ps, one service at
// a time): the decision is the same.
func TestConvergenceOnRecordedWaits(t *testing.T) {
	const rolledBackL1 = "update rolled back due to failure or early termination of task l1peevzg1ssy267ge7yrp2cv9 (task l1peevzg1ssy267ge7yrp2cv9: complete: finished; its health check: unhealthy, last run exit 1)"
	const pausedQp = "update rolled back due to failure or early termination of task qpbsh6ckdgg2ks2esxbbm7229 (task qpbsh6ckdgg2ks2esxbbm7229: complete: finished; its health check: unhealthy, last run exit 137)"
	const rolledBack74 = "update rolled back due to failure or early termination of task 74c5p2hshmps3w5wxomht40lh (task 74c5p2hshmps3w5wxomht40lh: complete: finished; its health check: unhealthy, last run exit 1)"
	const pausedEq = "update rolled back due to failure or early termination of task eqtkw9ghjxpo35ezysn5aryyz (task eqtkw9ghjxpo35ezysn5aryyz: complete: finished; its health check: unhealthy, last run exit 137)"
	const overloaded = "its task dtxrec_frontend.1 stopped 3 times since the deploy began, the last (task yhff6pgdscggz6yfcw9kp2tm2: complete: finished; its health check: unhealthy, last run exit 137)"
	const wholeBackend = "update rolled back due to failure or early termination of task cd38sr1od5vq9z92a7bl9kr5k (task cd38sr1od5vq9z92a7bl9kr5k: complete: finished; its health check: unhealthy, last run exit 137)"
	const wholeFrontend = "update rolled back due to failure or early termination of task hg92i6ju3t0cm2zwrprbp428o (task hg92i6ju3t0cm2zwrprbp428o: complete: finished; its health check: unhealthy, last run exit 137)"
	const unhealthy = "its task dtxrec_backend.1 stopped 3 times since the deploy began, the last (task 9wu6kphkubnl0sybzfe0ppg0t: complete: finished; its health check: unhealthy, last run exit 1 backend not ready: no answer on 8000)"
	type want struct {
		version string   // a deploy's wait (Report); "" a rollback's (RollbackReport)
		said    []string // the lines the live run printed
		err     string   // its error, "" when none
		// undecided: the live run was interrupted while these were still
		// pending (the others' outcomes are in said, as Report says them).
		undecided []string
		// within: how soon a service must be decided.
		within map[string]time.Duration
	}
	running := func(svc, v string) string {
		return "dtxrec_" + svc + ": running at version " + v + " (no rolling update was needed)"
	}
	tests := []struct {
		recording string
		waits     []want
	}{
		{"deploy-new", []want{{version: "1.0.0", said: []string{
			running("backend", "1.0.0"), running("frontend", "1.0.0"), running("nginx", "1.0.0"), running("redis", "1.0.0")}}}},
		{"update", []want{{version: "2.0.0", said: []string{
			"dtxrec_backend: updated to version 2.0.0", "dtxrec_frontend: updated to version 2.0.0", running("nginx", "2.0.0"), running("redis", "2.0.0")}}}},
		{"rollback", []want{{said: []string{"dtxrec_frontend: rolled back to its previous spec", "dtxrec_backend: rolled back to its previous spec"}}}},
		{"broken", []want{{version: "3.0.0", said: []string{
			"dtxrec_backend: ROLLED BACK: " + rolledBack74, "dtxrec_frontend: rollback paused: " + pausedEq, running("nginx", "3.0.0"), running("redis", "3.0.0")},
			err: "the update was rolled back: dtxrec_backend rolled back: " + rolledBack74 + "; dtxrec_frontend rollback paused: " + pausedEq}}},
		// 3.0.0 onto an empty swarm: backend's tasks fail their health
		// check, and frontend's did too on the loaded machine, with no
		// task error to show (an unhealthy task ends "complete"), so
		// neither counts as failing; the run was interrupted after 3 min.
		{"new-unhealthy", []want{{version: "3.0.0", undecided: []string{"backend", "frontend"},
			said: []string{running("nginx", "3.0.0"), running("redis", "3.0.0")}}}},
		{"failing-new", []want{{version: "4.0.0", said: []string{
			`dtxrec_backend: failing: its tasks keep failing; task dtxrec_backend.1: "task: non-zero exit (1)"`,
			running("frontend", "4.0.0"), running("nginx", "4.0.0"), running("redis", "4.0.0")},
			err: `the release did not converge: dtxrec_backend failing: its tasks keep failing; task dtxrec_backend.1: "task: non-zero exit (1)"`}}},
		// 1.0.0 with a worker and a stop-first scheduler onto an empty
		// swarm of a machine so loaded (load average 60 on 2 cores) that
		// frontend's health check timed out: its task stopped, with no
		// error, three times in one slot, and the wait gave up on it.
		{"frontend-overloaded", []want{{version: "1.0.0", said: []string{
			running("backend", "1.0.0"), running("beat", "1.0.0"), "dtxrec_frontend: failing: " + overloaded, running("nginx", "1.0.0"), running("redis", "1.0.0"), running("worker", "1.0.0")},
			err: "the release did not converge: dtxrec_frontend failing: " + overloaded}}},
		// Then 2.0.0 (with a new key), still overloaded: backend's and
		// frontend's health checks time out, Swarm rolls backend back and
		// pauses frontend's rollback; the tool then rolls back every other
		// service, which had updated (worker, beat) or only changed its
		// version label (nginx, redis), so that the release stays whole.
		{"whole-rollback", []want{
			{version: "2.0.0", said: []string{"dtxrec_backend: ROLLED BACK: " + wholeBackend, "dtxrec_beat: updated to version 2.0.0",
				"dtxrec_frontend: rollback paused: " + wholeFrontend, running("nginx", "2.0.0"), running("redis", "2.0.0"), "dtxrec_worker: updated to version 2.0.0"},
				err: "the update was rolled back: dtxrec_backend rolled back: " + wholeBackend + "; dtxrec_frontend rollback paused: " + wholeFrontend},
			{said: []string{"dtxrec_beat: rolled back to its previous spec", "dtxrec_nginx: rolled back to its previous spec",
				"dtxrec_redis: rolled back to its previous spec", "dtxrec_worker: rolled back to its previous spec"}},
		}},
		// Then 2.0.0 again, the machine less loaded: every service of the
		// release image updates (the scheduler stop-first); nginx and
		// redis keep their tasks.
		{"roles-update", []want{{version: "2.0.0", said: []string{
			"dtxrec_backend: updated to version 2.0.0", "dtxrec_beat: updated to version 2.0.0", "dtxrec_frontend: updated to version 2.0.0",
			running("nginx", "2.0.0"), running("redis", "2.0.0"), "dtxrec_worker: updated to version 2.0.0"}}}},
		// 3.0.0, whose backend's health check always fails, onto an empty
		// swarm: its tasks end Complete with no error (the server exits 0
		// on Swarm's SIGTERM); slot 1's third ended 36 s in and decided it,
		// with the health check's output. The wait went on until frontend,
		// slow on the loaded machine, ran.
		{"unhealthy-new", []want{{version: "3.0.0", within: map[string]time.Duration{"backend": 45 * time.Second}, said: []string{
			"dtxrec_backend: failing: " + unhealthy, running("beat", "3.0.0"), running("frontend", "3.0.0"), running("nginx", "3.0.0"), running("redis", "3.0.0"), running("worker", "3.0.0")},
			err: "the release did not converge: dtxrec_backend failing: " + unhealthy}}},
		{"old-deploy-new", []want{{version: "1.0.0", said: []string{
			running("backend", "1.0.0"), running("frontend", "1.0.0"), running("nginx", "1.0.0"), running("redis", "1.0.0")}}}},
		{"old-update", []want{{version: "2.0.0", said: []string{
			"dtxrec_backend: updated to version 2.0.0", "dtxrec_frontend: updated to version 2.0.0", running("nginx", "2.0.0"), running("redis", "2.0.0")}}}},
		{"old-broken", []want{
			{version: "3.0.0", said: []string{
				"dtxrec_backend: ROLLED BACK: " + rolledBackL1, "dtxrec_frontend: updated to version 3.0.0", running("nginx", "3.0.0"), running("redis", "3.0.0")},
				err: "the update was rolled back: dtxrec_backend rolled back: " + rolledBackL1},
			{err: "rollback did not complete: dtxrec_frontend: rollback paused update paused due to failure or early termination of task 92n8578uk3lgsyv2oeo8i62w4 (task 92n8578uk3lgsyv2oeo8i62w4: complete: finished; its health check: unhealthy, last run exit -1 OCI runtime exec failed: exec failed: cannot exec in a stopped container: unknown): see ./dtx swarm:ps"},
		}},
		{"old-update-paused", []want{
			{version: "1.0.0", said: []string{
				"dtxrec_backend: updated to version 1.0.0", "dtxrec_frontend: rollback paused: " + pausedQp, running("nginx", "1.0.0"), running("redis", "1.0.0")},
				err: "the update was rolled back: dtxrec_frontend rollback paused: " + pausedQp},
			{said: []string{"dtxrec_backend: rolled back to its previous spec"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.recording, func(t *testing.T) {
			ws := waits(t, readCalls(t, tc.recording), "dtxrec")
			if len(ws) != len(tc.waits) {
				t.Fatalf("%d waits recorded, the test expects %d", len(ws), len(tc.waits))
			}
			for i, w := range ws {
				final, doneAt, looks, decided := replay(t, w, "dtxrec")
				for name, limit := range tc.waits[i].within {
					if at, ok := decided[name]; !ok || at > limit {
						t.Errorf("wait %d: %s decided after %s (%v), want within %s", i+1, name, at, ok, limit)
					}
				}
				services := w.services
				if u := tc.waits[i].undecided; len(u) > 0 {
					services = slices.DeleteFunc(slices.Clone(services), func(s string) bool { return slices.Contains(u, s) })
					for _, name := range u {
						if o, ok := final[name]; ok || doneAt != 0 {
							t.Errorf("wait %d: %s decided (%v) after %d looks; the live run was still waiting", i+1, name, o, looks)
						}
					}
				} else if doneAt != looks {
					t.Errorf("wait %d: decided at look %d, the live run at look %d; outcomes %v", i+1, doneAt, looks, final)
				}
				var said []string
				var err error
				if tc.waits[i].version != "" {
					said, err = Report("dtxrec", services, final, "version "+tc.waits[i].version)
				} else {
					said, err = RollbackReport("dtxrec", services, final)
				}
				if !slices.Equal(said, tc.waits[i].said) {
					t.Errorf("wait %d said:\n  %s\nwant:\n  %s", i+1, strings.Join(said, "\n  "), strings.Join(tc.waits[i].said, "\n  "))
				}
				if got := errText(err); got != tc.waits[i].err {
					t.Errorf("wait %d error:\n got %s\nwant %s", i+1, got, tc.waits[i].err)
				}
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
