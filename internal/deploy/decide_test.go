package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// The recordings (testdata/README.md says how each was made) come from a
// stack under this registry and project.
const (
	recRegistry = "127.0.0.1:5000/dtxrec12275/"
	recProject  = "dtxrec12275-release"
)

func recorded(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func recordedPs(t *testing.T, name string) []Container {
	t.Helper()
	cs, err := ParsePs([]byte(recorded(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cs
}

func recWant(version string) map[string]string {
	return map[string]string{"frontend": recRegistry + "frontend:" + version, "backend": recRegistry + "backend:" + version, "nginx": recRegistry + "nginx:" + version}
}

// What a deploy plans over each state the engine was seen in.
func TestPlanOnRecordedPs(t *testing.T) {
	for _, c := range []struct {
		ps, version string
		want        Plan
	}{
		{"ps-empty.json", "1.0.0", Plan{Version: "1.0.0", First: true}},
		// Containers created but not started run nothing yet.
		{"ps-first-created.json", "1.0.0", Plan{Version: "1.0.0", First: true}},
		// nginx created but not started: it is recreated.
		{"ps-first-starting.json", "1.0.0", Plan{Version: "1.0.0", Running: "1.0.0", Nginx: true}},
		{"ps-running.json", "1.0.0", Plan{Version: "1.0.0", Running: "1.0.0", Nothing: true}},
		// nginx's tag differs: the plan recreates it until its image ID says otherwise (SameImage).
		{"ps-running.json", "1.2.0", Plan{Version: "1.2.0", Running: "1.0.0", Roll: []string{"frontend", "backend"}, Nginx: true}},
		// A new backend left running beside the old one (an interrupted roll).
		{"ps-roll-starting.json", "1.2.0", Plan{Version: "1.2.0", Running: "mixed (1.0.0, 1.2.0)", Roll: []string{"frontend", "backend"}, Nginx: true}},
		{"ps-roll-starting.json", "1.0.0", Plan{Version: "1.0.0", Running: "mixed (1.0.0, 1.2.0)", Roll: []string{"backend"}}},
		// A stopped new container does not count.
		{"ps-roll-exited.json", "1.0.0", Plan{Version: "1.0.0", Running: "1.0.0", Nothing: true}},
	} {
		t.Run(c.ps+"/"+c.version, func(t *testing.T) {
			got := NewPlan(c.version, recordedPs(t, c.ps), recWant(c.version))
			if got.Version != c.want.Version || got.Running != c.want.Running || got.First != c.want.First ||
				got.Nothing != c.want.Nothing || got.Nginx != c.want.Nginx || !slices.Equal(got.Roll, c.want.Roll) {
				t.Errorf("plan %+v, want %+v", got, c.want)
			}
		})
	}
}

// The wait for a new container ends when it is healthy or stops running;
// starting and unhealthy ones are waited for until -wait passes.
func TestReadHealthOnRecordedInspect(t *testing.T) {
	for _, c := range []struct {
		file    string
		want    Health
		settled bool
	}{
		{"inspect-starting.txt", Starting, false},
		{"inspect-healthy.txt", Healthy, true},
		{"inspect-unhealthy.txt", Unhealthy, false},
		{"inspect-exited.txt", Stopped, true},
		{"inspect-created.txt", Stopped, true},
		{"inspect-no-healthcheck.txt", Healthy, true},
	} {
		t.Run(c.file, func(t *testing.T) {
			h := ReadHealth(recorded(t, c.file))
			if h != c.want || h.Settled() != c.settled {
				t.Errorf("%q: health %d settled %v, want %d %v", recorded(t, c.file), h, h.Settled(), c.want, c.settled)
			}
		})
	}
}

// nginx is the same image under its new tag; the backend is not.
func TestSameImageOnRecordedIDs(t *testing.T) {
	nginx, backend := recorded(t, "image-id-nginx-1.2.0.txt"), recorded(t, "image-id-backend-1.2.0.txt")
	runningNginx, runningBackend := recorded(t, "container-image-nginx-1.0.0.txt"), recorded(t, "container-image-backend-1.0.0.txt")
	for _, c := range []struct {
		name    string
		want    string
		running []string
		same    bool
	}{
		{"nginx 1.0.0 runs 1.2.0's image", nginx, []string{runningNginx}, true},
		{"the backend changed", backend, []string{runningBackend}, false},
		{"one of two differs", nginx, []string{runningNginx, runningBackend}, false},
		{"nothing runs", nginx, nil, false},
		{"no ID", "", []string{""}, false},
	} {
		if got := SameImage(c.want, c.running); got != c.same {
			t.Errorf("%s: SameImage %v, want %v", c.name, got, c.same)
		}
	}
}

// The roll's decisions over the recorded scale-up of the backend.
func TestRollOnRecordedPs(t *testing.T) {
	r := NewRoll(Rolled, recordedPs(t, "ps-running.json"))
	if got, want := r.OldPins(), map[string]string{"frontend": recProject + "-frontend-1", "backend": recProject + "-backend-1"}; !equalMaps(got, want) {
		t.Errorf("old pins %v, want %v", got, want)
	}
	if got, want := r.Retired(), []string{"cad3e18e50cd", "1c59fe062f36"}; !slices.Equal(got, want) {
		t.Errorf("retired %v, want frontend's then backend's old container %v", got, want)
	}
	after := recordedPs(t, "ps-roll-starting.json")
	c, ok := r.Added(after, "backend")
	if !ok || c.ID != "e54b584df863" || c.Name != recProject+"-backend-2" {
		t.Fatalf("added backend %+v %v, want backend-2", c, ok)
	}
	if c, ok := r.Added(after, "frontend"); ok {
		t.Errorf("the frontend was not scaled up, yet %+v was added", c)
	}
	if c, ok := r.Added(recordedPs(t, "ps-roll-exited.json"), "backend"); ok {
		t.Errorf("a new container that stopped counts as started: %+v", c)
	}
	// The backend's new container started, the frontend's failed to:
	// only the backend's is removed.
	r.Fresh["backend"] = c
	if got := r.Discarded(); len(got) != 1 || got[0].ID != "e54b584df863" {
		t.Errorf("discarded %+v, want only the new backend", got)
	}
	if got := r.FreshPins(); !equalMaps(got, map[string]string{"backend": recProject + "-backend-2"}) {
		t.Errorf("fresh pins %v", got)
	}
	// With nothing running there is nothing to pin or retire.
	if empty := NewRoll(Rolled, recordedPs(t, "ps-empty.json")); len(empty.OldPins()) != 0 || len(empty.Retired()) != 0 {
		t.Errorf("empty stack: pins %v, retired %v", empty.OldPins(), empty.Retired())
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRollbackTarget(t *testing.T) {
	history := []Record{
		{Version: "0.9.0", Outcome: Deployed},
		{Version: "1.0.0", Outcome: Deployed, Previous: "0.9.0"},
		{Version: "1.2.0", Outcome: Failed, Previous: "1.0.0"},
	}
	for _, c := range []struct {
		name, ps          string
		records           []Record
		current, previous string
		ok                bool
	}{
		{"1.0.0 runs: back to 0.9.0, past the failed 1.2.0", "ps-running.json", history, "1.0.0", "0.9.0", true},
		{"nothing runs: from the last recorded deploy", "ps-empty.json", history[:2], "1.0.0", "0.9.0", true},
		{"only one good deploy", "ps-running.json", history[1:], "1.0.0", "", false},
		{"no history", "ps-empty.json", nil, "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			current, previous, ok := RollbackTarget(c.records, recordedPs(t, c.ps))
			if current != c.current || previous != c.previous || ok != c.ok {
				t.Errorf("RollbackTarget = %q, %q, %v; want %q, %q, %v", current, previous, ok, c.current, c.previous, c.ok)
			}
		})
	}
}

func TestStatusLines(t *testing.T) {
	lines := ContainerLines(recProject, recordedPs(t, "ps-roll-unhealthy.json"))
	if lines[0] != "release stack "+recProject+": mixed (1.0.0, 1.2.0)" || len(lines) != 6 {
		t.Fatalf("status:\n%s", strings.Join(lines, "\n"))
	}
	if want := "  backend   " + recProject + "-backend-2 running  unhealthy  " + recRegistry + "backend:1.2.0"; lines[2] != want {
		t.Errorf("line %q\nwant %q", lines[2], want)
	}
	if got := ContainerLines(recProject, nil); !slices.Equal(got, []string{"release stack " + recProject + ": (nothing runs)"}) {
		t.Errorf("empty stack: %q", got)
	}
	if got := DeployLines(nil); !slices.Equal(got, []string{"no deploy recorded in .dtx/deploys.jsonl yet"}) {
		t.Errorf("no history: %q", got)
	}
	var records []Record
	for i := range 7 {
		records = append(records, Record{Time: time.Date(2026, 12, 1, 10, i, 0, 0, time.Local), Version: "1.0." + string(rune('0'+i)), Outcome: Deployed, Duration: "12.8s"})
	}
	long := "backend 1.0.6 was not healthy within 15s (it is \"running unhealthy\"): the new containers are removed and 1.0.5 keeps serving"
	records[6].Outcome, records[6].Reason, records[6].Previous = Failed, long, "1.0.5"
	got := DeployLines(records)
	want := []string{
		"last deploys (.dtx/deploys.jsonl):",
		"  2026-12-01 10:02:00  1.0.2        deployed    from (nothing runs) 12.8s",
	}
	if len(got) != 6 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("the last five deploys, oldest first:\n%s", strings.Join(got, "\n"))
	}
	if want := "from 1.0.5        12.8s  " + stack.Clip(long); !strings.HasSuffix(got[5], want) || !strings.HasSuffix(want, "…") {
		t.Errorf("a failure's line %q: want its reason, clipped", got[5])
	}
}
