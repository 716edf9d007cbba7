package swarm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// After a failed deploy, every service that existed before it goes back,
// whatever its own outcome, except those Swarm rolled back itself; a
// service new in the release has nothing to go back to.
func TestToRollBack(t *testing.T) {
	services := []string{"backend", "beat", "frontend", "nginx", "redis", "worker"}
	existed := map[string]bool{"backend": true, "beat": true, "frontend": true, "nginx": true, "redis": true}
	final := map[string]Outcome{
		"backend":  {State: "rollback_completed"},
		"beat":     {State: "completed"},
		"frontend": {State: "rollback_paused"},
		"nginx":    {State: "running"}, // its tasks did not change; its spec (the version label) did
		"redis":    {State: "paused"},
		"worker":   {State: "failing"},
	}
	back, stay := ToRollBack(services, existed, final)
	if got := strings.Join(back, ","); got != "beat,nginx,redis" {
		t.Errorf("rolled back: %s, want beat,nginx,redis", got)
	}
	if got := strings.Join(stay, ","); got != "worker" {
		t.Errorf("stay: %s, want worker (new)", got)
	}
	if back, stay := ToRollBack(services, nil, final); len(back) != 0 || !slices.Equal(stay, services) {
		t.Errorf("a first deploy that failed rolls back %v, keeps %v", back, stay)
	}
}

// swarm:rollback picks the services with a previous spec, from versionsCommand's
// output recorded after the whole-rollback recording: Swarm's own rollback
// (backend; frontend's paused) leaves no previous spec, the tool's
// docker service rollback swaps the spec with the previous one.
func TestRollbackable(t *testing.T) {
	out, err := os.ReadFile(filepath.Join("testdata", "versions-after-whole-rollback.txt"))
	if err != nil {
		t.Fatal(err)
	}
	services, previous := Rollbackable(string(out), "dtxrec")
	if got := strings.Join(services, ","); got != "beat,nginx,redis,worker" {
		t.Errorf("rollbackable: %s", got)
	}
	if previous["nginx"] != "2.0.0" || previous["backend"] != "" {
		t.Errorf("previous versions: %v", previous)
	}
	if s, _ := Rollbackable("", "dtxrec"); len(s) != 0 {
		t.Errorf("no service: %v", s)
	}
}
