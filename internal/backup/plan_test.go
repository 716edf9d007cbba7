package backup

import (
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/roles"
)

// The version that runs is the built services' tag, the proxy's left out:
// a deploy keeps nginx under its old tag when its image is the same.
func TestRunningVersion(t *testing.T) {
	site := roles.Site{Services: []roles.Service{
		{Name: "backend", Role: roles.Routed, Built: true},
		{Name: "frontend", Role: roles.Routed, Built: true},
		{Name: "nginx", Role: roles.Proxy, Built: true},
		{Name: "redis", Role: roles.Stateful},
	}}
	cs := []container{
		{Service: "backend", State: "running", Image: "127.0.0.1:5000/site/backend:1.1.0"},
		{Service: "frontend", State: "running", Image: "127.0.0.1:5000/site/frontend:1.1.0"},
		{Service: "nginx", State: "running", Image: "127.0.0.1:5000/site/nginx:1.0.0"},
		{Service: "redis", State: "running", Image: "redis:8.2.1-alpine"},
		{Service: "backend", State: "exited", Image: "127.0.0.1:5000/site/backend:0.9.0"},
	}
	if got := runningVersion(site, cs); got != "1.1.0" {
		t.Errorf("running %q, want 1.1.0", got)
	}
	cs[1].Image = "127.0.0.1:5000/site/frontend:1.0.0"
	if got := runningVersion(site, cs); got != "mixed (1.0.0, 1.1.0)" {
		t.Errorf("running %q during a roll", got)
	}
	if got := runningVersion(site, nil); got != "" {
		t.Errorf("nothing runs: %q", got)
	}
}

// compose ps's JSON, a line an object (compose 2.21+) or one array.
func TestParsePs(t *testing.T) {
	lines := `{"ID":"a","Name":"p-redis-1","Service":"redis","State":"running","Health":"healthy","Image":"redis"}
{"ID":"b","Name":"p-backend-1","Service":"backend","State":"paused","Health":"","Image":"b:1"}
`
	cs, err := parsePs([]byte(lines))
	if err != nil || len(cs) != 2 || inState(cs, "paused")[0] != "backend" || inState(cs, "running")[0] != "redis" {
		t.Fatalf("%+v %v", cs, err)
	}
	array, err := parsePs([]byte(`[{"ID":"a","Service":"redis","State":"running"}]`))
	if err != nil || len(array) != 1 {
		t.Fatalf("%+v %v", array, err)
	}
}

// The services that write a path are those whose writable bind mounts
// hold it or lie inside it; a read-only mount writes nothing.
func TestWritersOf(t *testing.T) {
	bind := func(source, target string, ro bool) types.ServiceVolumeConfig {
		return types.ServiceVolumeConfig{Type: types.VolumeTypeBind, Source: source, Target: target, ReadOnly: ro}
	}
	model := &types.Project{Services: types.Services{
		"backend": {Name: "backend", ContainerSpec: types.ContainerSpec{Volumes: []types.ServiceVolumeConfig{bind("/p/backend/.data", "/app/data", false)}}},
		"worker":  {Name: "worker", ContainerSpec: types.ContainerSpec{Volumes: []types.ServiceVolumeConfig{bind("/p/backend", "/app", false)}}},
		"reader":  {Name: "reader", ContainerSpec: types.ContainerSpec{Volumes: []types.ServiceVolumeConfig{bind("/p/backend/.data", "/data", true)}}},
		"redis":   {Name: "redis", ContainerSpec: types.ContainerSpec{Volumes: []types.ServiceVolumeConfig{bind("/p/backend/.redis_data", "/data", false)}}},
		"nginx":   {Name: "nginx", ContainerSpec: types.ContainerSpec{Volumes: []types.ServiceVolumeConfig{bind("/p/nginx/data/ssl", "/etc/nginx/ssl", true)}}},
	}}
	for path, want := range map[string]string{
		"/p/backend/.data/db.sqlite3": "backend,worker",
		"/p/backend/.redis_data":      "redis,worker",
		"/p/nginx/data/ssl":           "",
		"/p/backend":                  "backend,redis,worker",
	} {
		if got := strings.Join(writersOf(model, path), ","); got != want {
			t.Errorf("writers of %s: %s, want %s", path, got, want)
		}
	}
}

// The benchmark's table says each measurement in a row, a failed one with
// its reason.
func TestMeasureTable(t *testing.T) {
	table := Table([]Measurement{
		{Method: "online", Size: 1e6, Rows: 9, Backup: 11600 * time.Millisecond, Took: "10.34s", Restore: 14200 * time.Millisecond, Writes: 139, P50: 41 * time.Millisecond, Max: 409 * time.Millisecond, BaseP50: 14 * time.Millisecond, BaseMax: 294 * time.Millisecond},
		{Method: "pause", Size: 1e6, Rows: 9, Paused: "120ms", Backup: 10800 * time.Millisecond, Took: "8.43s", Restore: 9800 * time.Millisecond, Writes: 139},
		{Method: "pause", Rows: 834, Err: "prod:backup: exit status 1 | unable to freeze"},
	})
	for _, want := range []string{
		"| 1.0 MB (9 notes) | online | 11.6s | 10.34s | none | 14.2s | 139 (0 failed) | 41ms / 409ms (14ms / 294ms) |",
		"| 1.0 MB (9 notes) | pause | 10.8s | 8.43s | 120ms | 9.8s |",
		`| 834 notes | pause | failed: prod:backup: exit status 1 \| unable to freeze |`,
	} {
		if !strings.Contains(table, want) {
			t.Errorf("the table has no %q:\n%s", want, table)
		}
	}
}
