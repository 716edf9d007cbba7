package swarm

import (
	"slices"
	"strings"
	"testing"
)

// The prune decided on what the live run read after the roles-update
// recording converged (docker service inspect of the stack's services,
// docker secret ls and config ls of its own objects) removes exactly what
// that run removed: the key of the 2.0.0 that was rolled back before, which
// neither backend's spec (the new key) nor its previous spec (1.0.0's key)
// uses; the certificate, private key and template stay.
func TestPruneOnARecordedDeploy(t *testing.T) {
	var inspect string
	objects := map[objectKind]string{}
	var removed []string
	for _, c := range readCalls(t, "roles-update") {
		switch {
		case c.is("service", "inspect") && !strings.HasPrefix(c.Argv[2], "--"):
			inspect = c.Out
		case c.is("secret", "ls"):
			objects[secretKind] = c.Out
		case c.is("config", "ls"):
			objects[configKind] = c.Out
		case c.is("secret", "rm"):
			removed = c.Argv[2:]
		}
	}
	if inspect == "" || objects[secretKind] == "" || objects[configKind] == "" || len(removed) == 0 {
		t.Fatal("the recording has no prune")
	}
	secrets, err := Unused(inspect, objects[secretKind], secretKind)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(secrets, removed) {
		t.Errorf("unused secrets %v, the live run removed %v", secrets, removed)
	}
	if n := len(strings.Fields(objects[secretKind])) / 2; n != 5 {
		t.Errorf("the recording lists %d secrets, want 5: the keys of 1.0.0, of the 2.0.0 rolled back and of 2.0.0, the certificate and the private key", n)
	}
	configs, err := Unused(inspect, objects[configKind], configKind)
	if err != nil || len(configs) != 0 {
		t.Errorf("unused configs %v (%v), want none: nginx uses its template", configs, err)
	}
	// A secret only a previous spec uses stays: without the previous
	// specs, the key 1.0.0 used would go too.
	noPrevious := strings.ReplaceAll(inspect, `"PreviousSpec"`, `"Ignored"`)
	more, _ := Unused(noPrevious, objects[secretKind], secretKind)
	if len(more) != len(removed)+1 {
		t.Errorf("without the previous specs %v would go; the rollback target's key must be what keeps one", more)
	}
	if _, err := Unused("not json", objects[secretKind], secretKind); err == nil {
		t.Error("an unreadable inspection removes nothing: it must be an error")
	}
}
