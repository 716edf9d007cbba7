package deploy

import (
	"testing"
)

func TestBump(t *testing.T) {
	for _, c := range []struct{ v, part, want string }{
		{"0.1.0", "patch", "0.1.1"},
		{"0.1.9", "minor", "0.2.0"},
		{"1.2.3", "major", "2.0.0"},
		{"1.3.0-rc.1", "patch", "1.3.1"},
	} {
		t.Run(c.v+"/"+c.part, func(t *testing.T) {
			if got, err := Bump(c.v, c.part); err != nil || got != c.want {
				t.Errorf("Bump(%s, %s) = %s, %v; want %s", c.v, c.part, got, err, c.want)
			}
		})
	}
	for _, c := range []struct{ v, part string }{{"1.2.3", "micro"}, {"1.2", "patch"}, {"v1.2.3", "patch"}} {
		if _, err := Bump(c.v, c.part); err == nil {
			t.Errorf("Bump(%s, %s) accepted", c.v, c.part)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"1.2.3": true, "0.0.1": true, "1.2.3-rc.1": true,
		"1.2": false, "v1.2.3": false, "1.2.3+build.5": false, "": false, "1.2.3.4": false, "01.2.3": false, "latest": false,
	} {
		if err := CheckVersion(v); (err == nil) != ok {
			t.Errorf("CheckVersion(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}

// A rollback with data undoes the last deploy of what runs: after 1, 2, 3
// and a rollback to 2, the data to put back when leaving 2 is what the
// first deploy of 2 backed up (while 1 ran), not what the rollback to 2
// backed up (3's data).
func TestUndoneDeploy(t *testing.T) {
	records := []Record{
		{Version: "1.0.0", Outcome: Deployed},
		{Version: "2.0.0", Outcome: InProgress, Backup: "20261207-010000-before-2.0.0"},
		{Version: "2.0.0", Outcome: Deployed, Backup: "20261207-010000-before-2.0.0"},
		{Version: "3.0.0", Outcome: Failed, Backup: "20261207-020000-before-3.0.0"},
		{Version: "3.0.0", Outcome: Deployed, Backup: "20261207-030000-before-3.0.0"},
		{Version: "2.0.0", Outcome: RolledBack, Backup: "20261207-040000-before-2.0.0"},
	}
	for _, c := range []struct {
		current, backup string
		ok              bool
	}{
		{"2.0.0", "20261207-010000-before-2.0.0", true},
		{"3.0.0", "20261207-030000-before-3.0.0", true},
		{"1.0.0", "", true}, // the first deploy takes none: an empty server has no data
		{"4.0.0", "", false},
	} {
		r, ok := UndoneDeploy(records, c.current)
		if ok != c.ok || r.Backup != c.backup {
			t.Errorf("UndoneDeploy(%s) = %q, %v; want %q, %v", c.current, r.Backup, ok, c.backup, c.ok)
		}
	}
}
