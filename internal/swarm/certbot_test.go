package swarm

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The challenge jobs' tasks as a real swarm listed them (testdata/jobs.jsonl,
// poll after poll): the hook's auth and cleanup jobs complete; a job whose
// command fails, or whose image no node has, fails with Swarm's words.
func TestJobDoneOnRecordedJobs(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "jobs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	polls := map[string][]string{}
	var order []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var c call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if _, seen := polls[c.last()]; !seen {
			order = append(order, c.last())
		}
		polls[c.last()] = append(polls[c.last()], c.Out)
	}
	want := map[string]string{ // job -> the error at its last poll ("" done)
		"dtxrec_acme_auth_782648063":    "",
		"dtxrec_acme_cleanup_326419423": "",
		"dtxrec_job_fails":              `Failed less than a second ago|"task: non-zero exit (3)"`,
		"dtxrec_job_rejected":           `Rejected less than a second ago|"No such image: 127.0.0.1:5000…"`,
	}
	if len(order) != len(want) {
		t.Fatalf("recorded jobs %v, want %d", order, len(want))
	}
	for _, job := range order {
		outs := polls[job]
		for i, out := range outs {
			states, done, err := JobDone(out)
			last := i == len(outs)-1
			if len(states) != 1 {
				t.Errorf("%s poll %d: states %q, want the one node's task", job, i+1, states)
			}
			switch {
			case !last && (done || err != nil):
				t.Errorf("%s poll %d (%q): done %v, error %v; the live run polled again", job, i+1, out, done, err)
			case last && want[job] == "" && (!done || err != nil):
				t.Errorf("%s last poll (%q): done %v, error %v; want done", job, out, done, err)
			case last && want[job] != "" && errText(err) != want[job]:
				t.Errorf("%s last poll: error %v, want %s", job, err, want[job])
			}
		}
	}
	if _, done, err := JobDone(""); done || err != nil {
		t.Errorf("no task listed yet: done %v, error %v; want to wait", done, err)
	}
}

// The digest of a single-platform image, from docker manifest inspect -v
// of the registry (recorded); none from anything else.
func TestManifestDigest(t *testing.T) {
	out, err := os.ReadFile(filepath.Join("testdata", "manifest-inspect-v.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ManifestDigest(string(out)), "sha256:1d97de429721f714a15bc36409899a2be59a8dea0787cd98cc34333de48d42fb"; got != want {
		t.Errorf("digest %q, want %q", got, want)
	}
	// A manifest list is a JSON array: docker stack deploy resolves the tag.
	for _, other := range []string{`[{"Ref":"r","Descriptor":{"digest":"sha256:ab"}}]`, "", `{"Descriptor":{"digest":"md5:ab"}}`} {
		if got := ManifestDigest(other); got != "" {
			t.Errorf("ManifestDigest(%q) = %q, want none", other, got)
		}
	}
}
