package deploy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/lock"
	"github.com/kettleofketchup/dtx_website/internal/roles"
)

// The recordings (testdata/README.md says how each was made) come from two
// stacks: the starter's, under one registry and project, and the one with
// two workers on the backend image, under another.
const (
	recRegistry  = "127.0.0.1:5000/dtxrec12275/"
	recProject   = "dtxrec12275-release"
	workRegistry = "127.0.0.1:5000/dtxrec31416/"
	workProject  = "dtxrec31416-release"
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

// loadModel loads a compose file of testdata as the tool does, with the
// registry of the stack it describes.
func loadModel(t *testing.T, file string) *types.Project {
	t.Helper()
	registry := recRegistry
	if strings.Contains(file, "workers") {
		registry = workRegistry
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join("testdata", file)}, cli.WithName("t"), cli.WithWorkingDirectory("testdata"),
		cli.WithEnv([]string{"REGISTRY=" + strings.TrimSuffix(registry, "/"), "VERSION=1.0.0"}), cli.WithInterpolation(true))
	if err != nil {
		t.Fatal(err)
	}
	model, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return model
}

// loadSite derives the roles of a compose file of testdata, as
// session.Stack.Site does.
func loadSite(t *testing.T, file string) roles.Site {
	t.Helper()
	registry := recRegistry
	if strings.Contains(file, "workers") {
		registry = workRegistry
	}
	site, err := roles.Derive(loadModel(t, file), file, func(image string) bool { return strings.HasPrefix(image, registry) })
	if err != nil {
		t.Fatal(err)
	}
	return site
}

func planSummary(p Plan) string {
	var parts []string
	if p.First {
		parts = append(parts, "first")
	}
	if p.Nothing {
		parts = append(parts, "nothing")
	}
	if len(p.Replace) > 0 {
		parts = append(parts, "replace "+strings.Join(roles.Names(p.Replace), ","))
	}
	if p.Proxy != nil {
		parts = append(parts, "proxy "+p.Proxy.Name)
	}
	if len(p.Start) > 0 {
		parts = append(parts, "start "+strings.Join(p.Start, ","))
	}
	for _, c := range p.Leftovers {
		parts = append(parts, "leftover "+c.Name)
	}
	return strings.Join(parts, "; ")
}

// What a deploy plans over each state the engine was seen in.
func TestPlanOnRecordedPs(t *testing.T) {
	starter, workers := loadSite(t, "compose-starter.yaml"), loadSite(t, "compose-workers.yaml")
	for _, c := range []struct {
		ps      string
		site    roles.Site
		version string
		running string
		want    string
	}{
		{"ps-empty.json", starter, "1.0.0", "", "first"},
		// Containers created but not started run nothing yet.
		{"ps-first-created.json", starter, "1.0.0", "", "first"},
		// The proxy created but not started: it is recreated.
		{"ps-first-starting.json", starter, "1.0.0", "1.0.0", "proxy nginx"},
		{"ps-running.json", starter, "1.0.0", "1.0.0", "nothing"},
		// The proxy's tag differs: the plan recreates it until its image ID says otherwise (SameImage).
		{"ps-running.json", starter, "1.2.0", "1.0.0", "replace backend,frontend; proxy nginx"},
		// A new backend left running beside the old one (an interrupted roll).
		{"ps-roll-starting.json", starter, "1.2.0", "mixed (1.0.0: backend, frontend, nginx; 1.2.0: backend)", "replace backend,frontend; proxy nginx"},
		{"ps-roll-starting.json", starter, "1.0.0", "mixed (1.0.0: backend, frontend, nginx; 1.2.0: backend)", "replace backend"},
		// A stopped new container does not count; it is a leftover only
		// for a roll of its service (compose would start it again).
		{"ps-roll-exited.json", starter, "1.0.0", "1.0.0", "nothing"},
		{"ps-roll-exited.json", starter, "1.2.0", "1.0.0", "replace backend,frontend; proxy nginx; leftover " + recProject + "-backend-2"},
		// Every service on the backend image moves with it: routed first,
		// then the workers, by name.
		{"ps-workers-running.json", workers, "1.1.0", "1.0.0", "replace backend,frontend,beat,worker; proxy nginx"},
		{"ps-workers-running.json", workers, "1.0.0", "1.0.0", "nothing"},
		// The stack after 1.1.0's roll: the proxy kept its 1.0.0 tag.
		{"ps-workers-rolled.json", workers, "1.1.0", "mixed (1.0.0: nginx; 1.1.0: backend, beat, frontend, worker)", "proxy nginx"},
		// The stop-first worker's old container stopped, its new one starting.
		{"ps-workers-stopfirst.json", workers, "1.1.0", "mixed (1.0.0: backend, frontend, nginx, worker; 1.1.0: backend, beat, frontend, worker)", "replace backend,frontend,worker; proxy nginx"},
		// 1.2.0's worker unhealthy beside 1.1.0's.
		{"ps-workers-unhealthy.json", workers, "1.1.0", "mixed (1.0.0: nginx; 1.1.0: backend, beat, frontend, worker; 1.2.0: worker)", "replace worker; proxy nginx"},
		// A deploy of 1.0.0 over 1.1.0 killed with -9 while it waited for
		// the new containers: both versions side by side, the stop-first
		// worker's new container created and never started.
		{"ps-workers-interrupted.json", workers, "1.0.0", "mixed (1.0.0: backend, frontend, nginx, worker; 1.1.0: backend, beat, frontend, worker)", "replace backend,frontend,beat,worker; leftover " + workProject + "-beat-3"},
		{"ps-workers-interrupted.json", workers, "1.1.0", "mixed (1.0.0: backend, frontend, nginx, worker; 1.1.0: backend, beat, frontend, worker)", "replace backend,frontend,worker; proxy nginx"},
		// A PRE_DEPLOY container its killed deploy left running.
		{"ps-workers-oneoff.json", workers, "1.1.0", "mixed (1.0.0: nginx; 1.1.0: backend, beat, frontend, worker)", "proxy nginx; leftover " + workProject + "-backend-run-e6fbd5717c2b"},
	} {
		t.Run(c.ps+"/"+c.version, func(t *testing.T) {
			got := NewPlan(c.version, recordedPs(t, c.ps), c.site)
			if got.Running != c.running || planSummary(got) != c.want || got.Version != c.version {
				t.Errorf("plan %q running %q, want %q running %q", planSummary(got), got.Running, c.want, c.running)
			}
		})
	}
}

// The proxy kept its container, its image the same under the new tag: the
// stack runs the new version. By tags alone it is a mix.
func TestRunningVersionKnowsTheKeptProxy(t *testing.T) {
	workers := loadSite(t, "compose-workers.yaml")
	rolled := recordedPs(t, "ps-workers-rolled.json")
	refs := proxyTags(rolled, workers)
	if want := []string{workRegistry + "nginx:1.1.0"}; !slices.Equal(refs, want) {
		t.Fatalf("image IDs asked: %q, want %q", refs, want)
	}
	ids := map[string]string{refs[0]: strings.TrimSpace(recorded(t, "image-id-nginx-1.1.0.txt"))}
	if got := RunningVersion(rolled, workers, ids); got != "1.1.0" {
		t.Errorf("running %q, want 1.1.0", got)
	}
	other := map[string]string{refs[0]: strings.TrimSpace(recorded(t, "image-id-backend-1.2.0.txt"))}
	if got := RunningVersion(rolled, workers, other); got != "mixed (1.0.0: nginx; 1.1.0: backend, beat, frontend, worker)" {
		t.Errorf("another image under the tag: running %q", got)
	}
	if got := RunningVersion(nil, workers, nil); got != "" {
		t.Errorf("nothing runs: %q", got)
	}
}

// compose's labels, as ps lists them, say a container's image ID and
// whether it is a one-off, whatever commas the compose files' list adds.
func TestContainerLabels(t *testing.T) {
	for _, c := range recordedPs(t, "ps-running.json") {
		if c.Service == "backend" {
			if got, want := c.ImageID(), strings.TrimSpace(recorded(t, "container-image-backend-1.0.0.txt")); got != want {
				t.Errorf("backend's image %q, want %q", got, want)
			}
			if got := c.Label("com.docker.compose.project.config_files"); !strings.HasSuffix(got, "docker-compose.release.yaml,/tmp/dtxrec12275/site/docker/.env.release.compose.yaml") {
				t.Errorf("a value with a comma: %q", got)
			}
		}
		if c.OneOff() {
			t.Errorf("%s is no one-off", c.Name)
		}
	}
	oneOffs := 0
	for _, c := range recordedPs(t, "ps-workers-oneoff.json") {
		if c.OneOff() {
			oneOffs++
			if c.Running() || c.State != "running" || c.Label(PreDeployLabel) != "1" || c.Service != "backend" {
				t.Errorf("the one-off %+v", c)
			}
		}
	}
	if oneOffs != 1 {
		t.Errorf("%d one-off containers, want 1", oneOffs)
	}
}

// The wait's verdict on each state a new container was seen in.
func TestJudgeOnRecordedInspect(t *testing.T) {
	for _, c := range []struct {
		file   string
		status string
		health string
		want   Verdict
	}{
		{"inspect-starting.txt", "running", "starting", Waiting},
		{"inspect-healthy.txt", "running", "healthy", Ready},
		// Docker says unhealthy: fail at once, never wait for the rest of -wait.
		{"inspect-unhealthy.txt", "running", "unhealthy", Down},
		// Stopped: its last health status stays.
		{"inspect-exited.txt", "exited", "unhealthy", Down},
		{"inspect-created.txt", "created", "", Down},
		// It exited and Docker started it again: running, yet down.
		{"inspect-restarted.txt", "running", "", Down},
		{"inspect-no-healthcheck.txt", "running", "", Waiting},
	} {
		t.Run(c.file, func(t *testing.T) {
			st := ReadState(recorded(t, c.file))
			if st.Status != c.status || st.Health != c.health {
				t.Fatalf("%q read as %+v", recorded(t, c.file), st)
			}
			// Right after it started.
			if v, _ := st.Judge(st.Started.Add(time.Second)); v != c.want {
				t.Errorf("%q: verdict %d, want %d", recorded(t, c.file), v, c.want)
			}
		})
	}
	// Without a health check: up once it ran for Settle, and the wait
	// knows when that is.
	st := ReadState(recorded(t, "inspect-no-healthcheck.txt"))
	if v, next := st.Judge(st.Started.Add(time.Second)); v != Waiting || next != Settle-time.Second {
		t.Errorf("1 s after the start: %d, next look in %s", v, next)
	}
	if v, _ := st.Judge(st.Started.Add(Settle)); v != Ready {
		t.Errorf("after Settle: %d", v)
	}
	if got := ReadState(recorded(t, "inspect-restarted.txt")); got.Restarts < 1 || !strings.Contains(got.String(), "Docker restarted it") {
		t.Errorf("restarted: %+v %q", got, got)
	}
}

// The proxy is the same image under its new tag; the backend is not.
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

// The roll's decisions over the recorded roll of a stack with workers.
func TestRollOnRecordedPs(t *testing.T) {
	workers := loadSite(t, "compose-workers.yaml")
	plan := NewPlan("1.1.0", recordedPs(t, "ps-workers-running.json"), workers)
	r := NewRoll(plan.Replace, recordedPs(t, "ps-workers-running.json"))
	if got := r.Scales(); !slices.Equal(got, []Scale{{"backend", 1}, {"frontend", 1}, {"beat", 1}, {"worker", 1}}) {
		t.Errorf("scales %v", got)
	}
	if got, want := r.OldPins(), map[string]string{"frontend": workProject + "-frontend-1", "backend": workProject + "-backend-1"}; !equalMaps(got, want) {
		t.Errorf("old pins %v, want %v (the routed services only)", got, want)
	}
	created := recordedPs(t, "ps-workers-created.json")
	for _, svc := range plan.Replace {
		c, ok := r.Added(created, svc.Name)
		if !ok || c.Name != workProject+"-"+svc.Name+"-2" || c.State != "created" {
			t.Fatalf("added %s: %+v %v", svc.Name, c, ok)
		}
		r.Fresh[svc.Name] = c
	}
	// Nothing was created anew in a stack where every container runs.
	if c, ok := r.Added(recordedPs(t, "ps-workers-running.json"), "backend"); ok {
		t.Errorf("added %+v before the create", c)
	}
	names := func(cs []Container) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	if got := names(r.StartFirst()); !slices.Equal(got, []string{workProject + "-backend-2", workProject + "-frontend-2", workProject + "-worker-2"}) {
		t.Errorf("start-first: %v", got)
	}
	fresh, old := r.StopFirst()
	if !slices.Equal(names(fresh), []string{workProject + "-beat-2"}) || !slices.Equal(names(old), []string{workProject + "-beat-1"}) {
		t.Errorf("stop-first: new %v, old %v", names(fresh), names(old))
	}
	if got := r.FreshPins(); !equalMaps(got, map[string]string{"backend": workProject + "-backend-2", "frontend": workProject + "-frontend-2"}) {
		t.Errorf("fresh pins %v", got)
	}
	running := recordedPs(t, "ps-workers-running.json")
	id := func(name string) string {
		for _, c := range running {
			if c.Name == workProject+"-"+name {
				return c.ID
			}
		}
		t.Fatalf("no %s", name)
		return ""
	}
	if got, want := r.Drained(), []string{id("backend-1"), id("frontend-1"), id("worker-1")}; !slices.Equal(got, want) {
		t.Errorf("drained %v, want %v (the stop-first worker's old one stopped already)", got, want)
	}
	if got, want := r.Retired(), []string{id("backend-1"), id("frontend-1"), id("beat-1"), id("worker-1")}; !slices.Equal(got, want) {
		t.Errorf("retired %v, want %v", got, want)
	}
	if got := r.Discarded(); len(got) != 4 {
		t.Errorf("discarded %v: every new container", got)
	}
	// Over the interrupted deploy: the healthy old container is the pin,
	// and every running container of a service is old, whatever its version.
	interrupted := recordedPs(t, "ps-workers-interrupted.json")
	again := NewRoll(NewPlan("1.1.0", interrupted, workers).Replace, interrupted)
	if n := len(again.Old["backend"]); n != 2 {
		t.Errorf("%d old backends, want both versions", n)
	}
	for svc, name := range again.OldPins() {
		for _, c := range again.Old[svc] {
			if c.Name == name && c.Health != "healthy" {
				t.Errorf("pinned %s to %s, which is %s", svc, name, c.Health)
			}
		}
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

// PRE_DEPLOY runs where the compose file says, or in the one routed
// service that works on the data; never by a service's name.
func TestPreDeployService(t *testing.T) {
	starter := loadModel(t, "compose-starter.yaml")
	site := loadSite(t, "compose-starter.yaml")
	if got, err := PreDeployService(site, starter, "compose.yaml"); err != nil || got != "backend" {
		t.Errorf("starter: %q %v, want backend (it depends on redis)", got, err)
	}
	// Declared: it wins.
	declared := slices.Clone(site.Services)
	for i := range declared {
		declared[i].PreDeploy = declared[i].Name == "frontend"
	}
	if got, err := PreDeployService(roles.Site{Services: declared}, starter, "compose.yaml"); err != nil || got != "frontend" {
		t.Errorf("declared: %q %v", got, err)
	}
	for i := range declared {
		declared[i].PreDeploy = declared[i].Role == roles.Routed
	}
	if _, err := PreDeployService(roles.Site{Services: declared}, starter, "compose.yaml"); err == nil || !strings.Contains(err.Error(), "services backend, frontend all declare x-dtx.pre-deploy") {
		t.Errorf("two declared: %v", err)
	}
	// Two routed services, neither on the data: the compose file must say.
	noData := loadModel(t, "compose-starter.yaml")
	backend := noData.Services["backend"]
	backend.DependsOn = nil
	noData.Services["backend"] = backend
	_, err := PreDeployService(site, noData, "docker-compose.release.yaml")
	if err == nil || err.Error() != "PRE_DEPLOY is set, but docker-compose.release.yaml does not say which service's new image runs it (backend or frontend could): declare x-dtx: {pre-deploy: true} on that service" {
		t.Errorf("ambiguous: %v", err)
	}
}

// Finishing or undoing a killed deploy: every stopped container of a
// service on a project image is its residue, replaced service or not, and
// the proxy is unpinned even when nothing else changes.
func TestResumeOnRecordedPs(t *testing.T) {
	workers := loadSite(t, "compose-workers.yaml")
	for _, c := range []struct {
		ps, version, want string
	}{
		// Undoing: beat runs 1.1.0 alone, yet its created 1.0.0 container goes.
		{"ps-workers-interrupted.json", "1.1.0", "replace backend,frontend,worker; proxy nginx; leftover " + workProject + "-beat-3"},
		// Killed in the stop-first step, then finished: the old beat goes.
		{"ps-workers-stopfirst.json", "1.1.0", "replace backend,frontend,worker; proxy nginx; leftover " + workProject + "-beat-1"},
		// Killed at its very end: nothing to replace, but not "nothing".
		{"ps-workers-rolled.json", "1.1.0", "proxy nginx"},
	} {
		running := recordedPs(t, c.ps)
		p := NewPlan(c.version, running, workers)
		p.Resume(running, workers)
		if got := planSummary(p); got != c.want || !p.Unpin || p.Nothing {
			t.Errorf("%s/%s: %q (unpin %v, nothing %v), want %q", c.ps, c.version, got, p.Unpin, p.Nothing, c.want)
		}
	}
	p := NewPlan("1.0.0", nil, workers)
	if p.Resume(nil, workers); !p.First || !p.Unpin {
		t.Errorf("on an empty server: %+v", p)
	}
}

// The history the killed deploy left (testdata/history-interrupted.jsonl):
// its in-progress record is the one unfinished, prod:status says so, and
// the walk back ignores it.
func TestRecordedInterruptedHistory(t *testing.T) {
	records, damaged, err := Read(filepath.Join("testdata", "history-interrupted.jsonl"))
	if err != nil || len(damaged) != 0 || len(records) != 9 {
		t.Fatalf("%d records, damaged %v, %v", len(records), damaged, err)
	}
	open := Unfinished(records)
	if len(open) != 1 || open[0].Version != "1.0.0" || open[0].Previous != "1.1.0" || open[0].PID != 14383 || open[0].Command != "prod:deploy" {
		t.Fatalf("unfinished %+v", open)
	}
	lines := ProgressLines(open, lock.Holder{}, false)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "interrupted: the prod:deploy of 1.0.0 over 1.1.0, started ") || !strings.HasSuffix(lines[0], "./dtx prod:deploy -version=1.0.0 finishes it; ./dtx prod:deploy -version=1.1.0 undoes it") {
		t.Errorf("status: %q", lines)
	}
	if got := Stack(records); !slices.Equal(got, []string{"1.0.0"}) {
		t.Errorf("deployed %q: failed and in-progress deploys count for nothing", got)
	}
}
