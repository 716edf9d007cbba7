package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/lock"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

func TestParsePs(t *testing.T) {
	lines := `{"ID":"b1","Name":"dtx-release-backend-1","Service":"backend","Image":"r/backend:1.0.0","State":"running","Health":"healthy"}
{"ID":"f1","Name":"dtx-release-frontend-1","Service":"frontend","Image":"r/frontend:1.0.0","State":"running","Health":"starting"}
`
	array := `[{"ID":"b1","Name":"dtx-release-backend-1","Service":"backend","Image":"r/backend:1.0.0","State":"running","Health":"healthy"}]`
	for name, in := range map[string]string{"lines": lines, "array": array, "empty": ""} {
		t.Run(name, func(t *testing.T) {
			cs, err := ParsePs([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if name != "empty" && (cs[0].Name != "dtx-release-backend-1" || cs[0].Health != "healthy") {
				t.Errorf("parsed %+v", cs)
			}
		})
	}
	if _, err := ParsePs([]byte("not json")); err == nil {
		t.Error("garbage parsed")
	}
}

func at(minute int) time.Time { return time.Date(2026, 12, 1, 10, minute, 0, 0, time.UTC) }

// A rollback walks back through what was deployed, never forward: a
// second rollback goes to the version before the one the first went to.
func TestRollbackWalksBack(t *testing.T) {
	history := []Record{
		{Time: at(0), Version: "0.9.0", Outcome: Deployed},
		{Time: at(1), Version: "1.0.0", Outcome: Deployed, Previous: "0.9.0"},
		{Time: at(2), Version: "1.1.0", Outcome: Deployed, Previous: "1.0.0"},
		{Time: at(3), Version: "1.2.0", Outcome: InProgress, Previous: "1.1.0"},
		{Time: at(3), Version: "1.2.0", Outcome: Failed, Previous: "1.1.0"},
		{Time: at(4), Version: "1.3.0", Outcome: InProgress, Previous: "1.1.0"},
		{Time: at(4), Version: "1.3.0", Outcome: Interrupted, Previous: "1.1.0"},
	}
	rolledBack := func(from, to string, minute int) Record {
		return Record{Time: at(minute), Version: to, Previous: from, Outcome: RolledBack}
	}
	for _, c := range []struct {
		name            string
		records         []Record
		running         string
		current, target string
		ok              bool
	}{
		{"past the failed and the interrupted deploys", history, "1.1.0", "1.1.0", "1.0.0", true},
		{"a second rollback goes further back", append(slices.Clone(history), rolledBack("1.1.0", "1.0.0", 5)), "1.0.0", "1.0.0", "0.9.0", true},
		{"a third has nowhere to go", append(slices.Clone(history), rolledBack("1.1.0", "1.0.0", 5), rolledBack("1.0.0", "0.9.0", 6)), "0.9.0", "0.9.0", "", false},
		{"a deploy after a rollback is the new top", append(slices.Clone(history), rolledBack("1.1.0", "1.0.0", 5), Record{Time: at(6), Version: "1.4.0", Outcome: Deployed}), "1.4.0", "1.4.0", "1.0.0", true},
		{"nothing runs: from the last deploy", history, "", "1.1.0", "1.0.0", true},
		{"a mix: from the last deploy", history, "mixed (1.1.0: backend; 1.3.0: frontend)", "mixed (1.1.0: backend; 1.3.0: frontend)", "1.0.0", true},
		{"only one deploy", history[:1], "0.9.0", "0.9.0", "", false},
		{"no history", nil, "1.0.0", "1.0.0", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			current, target, ok := RollbackTarget(c.records, c.running)
			if current != c.current || target != c.target || ok != c.ok {
				t.Errorf("RollbackTarget = %q, %q, %v; want %q, %q, %v", current, target, ok, c.current, c.target, c.ok)
			}
		})
	}
}

func TestUnfinished(t *testing.T) {
	records := []Record{
		{Time: at(1), Version: "1.0.0", Outcome: InProgress},
		{Time: at(1), Version: "1.0.0", Outcome: Deployed},
		{Time: at(2), Version: "1.1.0", Outcome: InProgress, PID: 41},
		{Time: at(3), Version: "1.2.0", Outcome: InProgress, PID: 42},
		{Time: at(3), Version: "1.2.0", Outcome: Failed},
	}
	open := Unfinished(records)
	if len(open) != 1 || open[0].PID != 41 {
		t.Fatalf("unfinished %+v, want the 1.1.0 deploy", open)
	}
	if got := Unfinished(append(records, Record{Time: at(2), Version: "1.1.0", Outcome: Interrupted})); len(got) != 0 {
		t.Errorf("closed, yet unfinished: %+v", got)
	}
}

// The history is the server owner's alone, each line a whole record: a
// line cut short (a crash while it was written) is skipped and said, the
// next record starts on a line of its own, and every other line reads.
func TestHistoryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".dtx", "deploys.jsonl")
	if rs, damaged, err := Read(path); err != nil || rs != nil || damaged != nil {
		t.Fatalf("no file: %v %v %v", rs, damaged, err)
	}
	// An older file, 0644, with one record and half of another.
	os.MkdirAll(filepath.Dir(path), 0o755)
	whole, _ := json.Marshal(Record{Time: at(0), Version: "1.0.0", Outcome: Deployed})
	os.WriteFile(path, append(append(whole, '\n'), []byte(`{"time":"2026-12-01T10:01:00Z","version":"1.1`)...), 0o644)
	if err := Append(path, Record{Time: at(2), Version: "1.2.0", Outcome: InProgress, PID: 7}); err != nil {
		t.Fatal(err)
	}
	if err := Append(path, Record{Time: at(2), Version: "1.2.0", Outcome: Deployed, Previous: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != HistoryMode {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), os.FileMode(HistoryMode))
	}
	data, _ := os.ReadFile(path)
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if i != 1 && !json.Valid(line) {
			t.Errorf("line %d is no JSON: %s", i+1, line)
		}
	}
	rs, damaged, err := Read(path)
	if err != nil || len(rs) != 3 || len(damaged) != 1 || damaged[0].Line != 2 {
		t.Fatalf("read %+v, damaged %v, %v", rs, damaged, err)
	}
	if msg := damaged[0].Error(); !strings.HasPrefix(msg, "line 2 is not a deploy record (") || !strings.HasSuffix(msg, "): skipped") {
		t.Errorf("damaged line: %q", msg)
	}
	if v, _, ok := RollbackTarget(rs, "1.2.0"); !ok || v != "1.2.0" {
		t.Errorf("the history after a damaged line still works: %v %v", v, ok)
	}
	// A line that is JSON but no record.
	os.WriteFile(path, []byte("{}\n[1]\n"), 0o600)
	if rs, damaged, _ := Read(path); len(rs) != 0 || len(damaged) != 2 {
		t.Errorf("no records: %+v %v", rs, damaged)
	}
}

// A failure's reason never shows a secret, in the record written or in
// prod:status's lines, whatever form the secret took in the error (split
// into words, quoted, JSON-escaped) and however long the reason is: it is
// masked before it is cut.
func TestRecordsAreMaskedProperty(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789'\"$\\`;&|(){}<>*?#=:@/.-_~!%é")
	word := func() string {
		var b strings.Builder
		for i, n := 0, runner.MinSubstringSecret+rng.Intn(8); i < n; i++ {
			b.WriteRune(alphabet[rng.Intn(len(alphabet))])
		}
		return b.String()
	}
	for round := 0; round < 300; round++ {
		var parts []string
		for i, n := 0, 1+rng.Intn(3); i < n; i++ {
			parts = append(parts, word())
		}
		secret := strings.Join(parts, " ")
		root := t.TempDir()
		s := session.New(session.Config{Root: root})
		s.AddSecrets(secret)
		d := &deployer{Stack: &session.Stack{Session: s}, command: "prod:deploy", version: "1.2.0", timeline: NewTimeline(time.Now)}
		// The secret somewhere past the cut of a message, in several forms.
		words, _ := runner.SplitWords(runner.Quote(secret))
		quoted, _ := json.Marshal(secret)
		reason := fmt.Errorf("%s the pre-deploy command (PRE_DEPLOY) failed: docker compose run --rm -T backend %s: exit status 3 (%q, %s)",
			strings.Repeat("x", rng.Intn(90)), strings.Join(words, " "), secret, quoted)
		d.finish(Record{Time: at(round % 60), Version: "1.2.0", Outcome: Failed, Reason: reason.Error()})
		path := filepath.Join(root, stack.DeployLog)
		written, _ := os.ReadFile(path)
		records, _, _ := Read(path)
		shown := strings.Join(DeployLines(records, session.New(session.Config{}).Mask), "\n")
		for _, p := range parts {
			for _, where := range []string{string(written), shown} {
				if strings.Contains(where, p) || strings.Contains(where, strings.Trim(string(mustJSON(p)), `"`)) {
					t.Fatalf("round %d: part %q of the secret in:\n%s", round, p, where)
				}
			}
		}
		if len(records) != 1 || !strings.Contains(records[0].Reason, runner.MaskText) {
			t.Fatalf("round %d: record %+v", round, records)
		}
	}
}

func mustJSON(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// The timeline: one line a step, in the order they started, a step that
// runs twice added up, then the total; the form the benchmark reads.
func TestTimeline(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tl := NewTimeline(clock)
	advance := func(d time.Duration) { now = now.Add(d) }
	tl.Step("pull")
	advance(1234 * time.Millisecond)
	tl.Step("healthy")
	advance(2 * time.Second)
	tl.Step("undo")
	advance(100 * time.Millisecond)
	tl.Step("healthy")
	advance(500 * time.Millisecond)
	want := []string{"timeline pull 1.234s", "timeline healthy 2.500s", "timeline undo 0.100s", "timeline total 3.834s"}
	if got := tl.Lines(); !slices.Equal(got, want) {
		t.Errorf("timeline %q\nwant %q", got, want)
	}
}

func TestStatusLines(t *testing.T) {
	workers := loadSite(t, "compose-workers.yaml")
	rolled := recordedPs(t, "ps-workers-rolled.json")
	ids := map[string]string{workRegistry + "nginx:1.1.0": strings.TrimSpace(recorded(t, "image-id-nginx-1.1.0.txt"))}
	lines := ContainerLines(workProject, workers, rolled, ids)
	if lines[0] != "release stack "+workProject+": 1.1.0" || len(lines) != 7 {
		t.Fatalf("status:\n%s", strings.Join(lines, "\n"))
	}
	for _, want := range []string{
		"  beat         worker   " + workProject + "-beat-2 ",
		"  nginx        proxy    " + workProject + "-nginx-1",
		"1.0.0 (= 1.1.0)",
		"  redis        stateful " + workProject + "-redis-1",
	} {
		if !strings.Contains(strings.Join(lines, "\n"), want) {
			t.Errorf("no %q in:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	if got := ContainerLines(workProject, workers, nil, nil); got[0] != "release stack "+workProject+": (nothing runs)" || !strings.HasSuffix(got[1], "(no container)") {
		t.Errorf("empty stack: %q", got)
	}
	if got := DeployLines(nil, strings.Clone); !slices.Equal(got, []string{"no deploy recorded in .dtx/deploys.jsonl yet"}) {
		t.Errorf("no history: %q", got)
	}
	var records []Record
	for i := range 7 {
		records = append(records, Record{Time: time.Date(2026, 12, 1, 10, i, 0, 0, time.Local), Version: "1.0." + string(rune('0'+i)), Outcome: InProgress},
			Record{Time: time.Date(2026, 12, 1, 10, i, 0, 0, time.Local), Version: "1.0." + string(rune('0'+i)), Outcome: Deployed, Duration: "12.8s"})
	}
	long := "worker 1.0.6 turned unhealthy 4.2s after it started (Docker says so once its health check failed its retries): the new containers are removed and 1.0.5 keeps serving"
	records[13].Outcome, records[13].Reason, records[13].Previous = Failed, long, "1.0.5"
	got := DeployLines(records, strings.Clone)
	want := []string{
		"last deploys (.dtx/deploys.jsonl):",
		"  2026-12-01 10:02:00  1.0.2        deployed    from (nothing runs) 12.8s",
	}
	if len(got) != 6 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("the last five deploys, oldest first, one line each:\n%s", strings.Join(got, "\n"))
	}
	if want := "from 1.0.5        12.8s  " + stack.Clip(long); !strings.HasSuffix(got[5], want) || !strings.HasSuffix(want, "…") {
		t.Errorf("a failure's line %q: want its reason, clipped", got[5])
	}
	// One left in progress shows until a record closes it.
	open := append(slices.Clone(records), Record{Time: at(30), Version: "1.1.0", Previous: "1.0.5", Outcome: InProgress, Command: "prod:deploy", PID: 4242})
	if got := DeployLines(open, strings.Clone); !strings.Contains(got[len(got)-1], "1.1.0        in-progress from 1.0.5") {
		t.Errorf("an open deploy: %q", got[len(got)-1])
	}
}

// prod:status says a deploy runs while its process holds the lock, and
// what one left unfinished whose process is gone, with how to finish or
// undo it.
func TestProgressLines(t *testing.T) {
	since := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	open := []Record{{Time: since, Version: "1.2.0", Previous: "1.1.0", Outcome: InProgress, Command: "prod:deploy", PID: 4242}}
	got := ProgressLines(open, lock.Holder{}, false)
	want := "interrupted: the prod:deploy of 1.2.0 over 1.1.0, started " + since.Local().Format("2006-01-02 15:04:05") + " (pid 4242) did not finish: its process is gone (killed, or the server restarted). ./dtx prod:deploy -version=1.2.0 finishes it; ./dtx prod:deploy -version=1.1.0 undoes it"
	if len(got) != 1 || got[0] != want {
		t.Errorf("interrupted:\n%q\nwant\n%q", got, want)
	}
	got = ProgressLines(open, lock.Holder{PID: 4242, Command: "prod:deploy", Since: since}, true)
	if len(got) != 1 || !strings.HasPrefix(got[0], "prod:deploy is running now (pid 4242, since ") {
		t.Errorf("running: %q", got)
	}
	if got := ProgressLines(nil, lock.Holder{}, false); len(got) != 0 {
		t.Errorf("nothing in progress: %q", got)
	}
}
