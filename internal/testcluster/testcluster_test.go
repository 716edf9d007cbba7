package testcluster

import "testing"

// Which names Sweep takes for a cluster's, and whose: the PID, then one
// letter (and a node's number). A name of another stem, or a check's
// (two letters), is not a cluster's.
func TestStaleNames(t *testing.T) {
	for name, pid := range map[string]string{
		"dtxc4705n1": "4705", "dtxc4705b": "4705", "dtxc4705v3": "4705", "dtxc12p2": "12",
		"dtxc4705kns": "", "dtxcl": "", "dtxc4705": "", "dtxswr": "", "xdtxc4705n1": "", "dtxc4705n1x": "",
	} {
		m := staleName.FindStringSubmatch(name)
		got := ""
		if m != nil {
			got = m[1]
		}
		if got != pid {
			t.Errorf("%s: PID %q, want %q", name, got, pid)
		}
	}
}
