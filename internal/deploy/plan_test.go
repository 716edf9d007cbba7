package deploy

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

const reg = "127.0.0.1:5000/dtx/"

func running(version string, nginxVersion string) []Container {
	return []Container{
		{ID: "f1", Name: "dtx-release-frontend-1", Service: "frontend", Image: reg + "frontend:" + version, State: "running", Health: "healthy"},
		{ID: "b1", Name: "dtx-release-backend-1", Service: "backend", Image: reg + "backend:" + version, State: "running", Health: "healthy"},
		{ID: "r1", Name: "dtx-release-redis-1", Service: "redis", Image: "redis:8.2.1-alpine", State: "running", Health: "healthy"},
		{ID: "n1", Name: "dtx-release-nginx-1", Service: "nginx", Image: reg + "nginx:" + nginxVersion, State: "running", Health: "healthy"},
	}
}

func want(version string) map[string]string {
	return map[string]string{"frontend": reg + "frontend:" + version, "backend": reg + "backend:" + version, "nginx": reg + "nginx:" + version}
}

func TestNewPlan(t *testing.T) {
	for _, c := range []struct {
		name    string
		running []Container
		version string
		check   func(Plan) bool
	}{
		{"empty server: a first deploy", nil, "1.0.0", func(p Plan) bool { return p.First && !p.Nothing && len(p.Roll) == 0 }},
		{"only stopped containers: a first deploy", []Container{{Service: "backend", State: "exited"}}, "1.0.0", func(p Plan) bool { return p.First }},
		{"the version that runs: nothing to do", running("1.0.0", "1.0.0"), "1.0.0", func(p Plan) bool { return p.Nothing && p.Running == "1.0.0" }},
		{"a new version: roll frontend and backend, recreate nginx", running("1.0.0", "1.0.0"), "1.1.0", func(p Plan) bool {
			return slices.Equal(p.Roll, []string{"frontend", "backend"}) && p.Nginx && p.Running == "1.0.0" && !p.First
		}},
		{"nginx already at the version: not recreated", running("1.0.0", "1.1.0"), "1.1.0", func(p Plan) bool {
			return slices.Equal(p.Roll, []string{"frontend", "backend"}) && !p.Nginx
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if p := NewPlan(c.version, c.running, want(c.version)); !c.check(p) {
				t.Errorf("plan %+v", p)
			}
		})
	}
}

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

func TestHistoryAndPrevious(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".dtx", "deploys.jsonl")
	if rs, err := Read(path); err != nil || rs != nil {
		t.Fatalf("no file: %v %v", rs, err)
	}
	for _, r := range []Record{
		{Version: "1.0.0", Outcome: Deployed},
		{Version: "1.1.0", Outcome: Deployed, Previous: "1.0.0"},
		{Version: "1.2.0", Outcome: Failed, Previous: "1.1.0", Reason: "backend never healthy"},
	} {
		r.Time = time.Now()
		if err := Append(path, r); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := Read(path)
	if err != nil || len(rs) != 3 || rs[2].Reason != "backend never healthy" {
		t.Fatalf("read back %+v, %v", rs, err)
	}
	if v, ok := Previous(rs, "1.1.0"); !ok || v != "1.0.0" {
		t.Errorf("rollback from 1.1.0 (1.2.0 failed): %q %v, want 1.0.0", v, ok)
	}
	if _, ok := Previous(rs[:1], "1.0.0"); ok {
		t.Error("a rollback target with only one version deployed")
	}
	// After a rollback to 1.0.0, the previous good one is 1.1.0.
	rs = append(rs, Record{Version: "1.0.0", Outcome: RolledBack, Previous: "1.1.0"})
	if v, _ := Previous(rs, "1.0.0"); v != "1.1.0" {
		t.Errorf("after rolling back to 1.0.0: previous %q, want 1.1.0", v)
	}
}
