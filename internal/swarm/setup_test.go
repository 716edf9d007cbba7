package swarm

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// recorded reads a file of testdata/cluster (see testdata/README.md).
func recorded(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "cluster", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func recordedInfo(t *testing.T, name string) Info {
	t.Helper()
	i, err := ParseInfo(recorded(t, "info-"+name+".json"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return i
}

func oneLine(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %q", want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the error is not one line: %q", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the error %q does not say %q", err, w)
		}
	}
}

// The decisions of swarm:setup on the docker info the nodes of a real
// three-engine swarm printed (testdata/cluster): a fresh engine
// (inactive), the manager that inited the swarm, a worker and a second
// manager that joined it, and a manager of another swarm.
func TestPlanSetupOnRecordedInfos(t *testing.T) {
	m := func(spec string) Host { return Host{Spec: spec, Manager: true} }
	w := func(spec string) Host { return Host{Spec: spec} }
	fresh, manager, worker := recordedInfo(t, "inactive"), recordedInfo(t, "manager"), recordedInfo(t, "worker")
	second, other := recordedInfo(t, "second-manager"), recordedInfo(t, "other-manager")
	pending := fresh
	pending.Swarm.LocalNodeState, pending.Swarm.Error = "pending", "rpc error: timeout"

	tests := []struct {
		name      string
		hosts     []Host
		infos     []Info
		want      SetupPlan
		wantError []string
	}{
		{"three bare hosts: the first manager inits, the others join", []Host{m("a"), w("b"), w("c")}, []Info{fresh, fresh, fresh},
			SetupPlan{Anchor: 0, Init: true, Join: []int{1, 2}}, nil},
		{"the swarm as listed: nothing to do", []Host{m("a"), m("c"), w("b")}, []Info{manager, second, worker},
			SetupPlan{Anchor: 0, Kept: []int{0, 1, 2}}, nil},
		{"a new worker joins the existing swarm", []Host{m("a"), w("b"), w("d")}, []Info{manager, worker, fresh},
			SetupPlan{Anchor: 0, Kept: []int{0, 1}, Join: []int{2}}, nil},
		{"a fresh first manager joins the swarm of the second", []Host{m("a"), m("c")}, []Info{fresh, second},
			SetupPlan{Anchor: 1, Join: []int{0}, Kept: []int{1}}, nil},
		{"a manager of another swarm is refused", []Host{m("a"), w("x")}, []Info{manager, other},
			SetupPlan{}, []string{"node x belongs to another swarm", "cluster rfmn64s3zbirtdynw2w061vkc", "docker swarm leave", "nothing was changed"}},
		{"a worker of a swarm no listed manager manages is refused", []Host{m("a"), w("b")}, []Info{fresh, worker},
			SetupPlan{}, []string{"node b belongs to another swarm", "10.231.0.1:2377"}},
		{"a worker listed as a manager is refused", []Host{m("a"), m("b")}, []Info{manager, worker},
			SetupPlan{}, []string{"node b is a worker of the swarm but is listed as a manager", "docker node promote ln5s1esart91fgcuhvc9sfqps"}},
		{"a manager listed as a worker is refused", []Host{m("a"), w("c")}, []Info{manager, second},
			SetupPlan{}, []string{"node c is a manager", "docker node demote"}},
		{"one node under two names is refused", []Host{m("a"), m("a2")}, []Info{manager, manager},
			SetupPlan{}, []string{"a and a2 are the same node"}},
		{"a node whose swarm state is pending is refused", []Host{m("a"), w("b")}, []Info{manager, pending},
			SetupPlan{}, []string{`node b is in the swarm state "pending" (rpc error: timeout)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PlanSetup(tc.hosts, tc.infos)
			if tc.wantError != nil {
				oneLine(t, err, tc.wantError...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Anchor != tc.want.Anchor || got.Init != tc.want.Init || !slices.Equal(got.Join, tc.want.Join) || !slices.Equal(got.Kept, tc.want.Kept) {
				t.Errorf("plan %+v, want %+v", got, tc.want)
			}
			if got.Changes() != (tc.want.Init || len(tc.want.Join) > 0) {
				t.Errorf("Changes() = %v", got.Changes())
			}
		})
	}
}

func TestRecordedInfos(t *testing.T) {
	if got := recordedInfo(t, "manager").managerAddr(); got != "10.231.0.1:2377" {
		t.Errorf("the manager is joined at %q, want 10.231.0.1:2377", got)
	}
	if w := recordedInfo(t, "worker"); w.clusterID() != "" || w.Swarm.NodeID != "ln5s1esart91fgcuhvc9sfqps" {
		t.Errorf("worker: cluster %q node %q", w.clusterID(), w.Swarm.NodeID)
	}
	// docker info exits 0 when it reaches no engine: the error is in the JSON.
	_, err := ParseInfo(recorded(t, "info-unreachable.json"))
	oneLine(t, err, "ssh: connect to host 127.0.0.1 port 1: Connection refused")
}

func TestParseHosts(t *testing.T) {
	hosts, err := ParseHosts(" ssh://deploy@10.0.0.1 , prod-a,", "tcp://10.0.0.3:2376,unix:///run/n4.sock")
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{{"ssh://deploy@10.0.0.1", true}, {"prod-a", true}, {"tcp://10.0.0.3:2376", false}, {"unix:///run/n4.sock", false}}
	if !slices.Equal(hosts, want) {
		t.Errorf("hosts %v, want %v", hosts, want)
	}
	if a := hosts[0].Address(); a != "10.0.0.1" {
		t.Errorf("address %q", a)
	}
	if a := hosts[1].Address(); a != "" {
		t.Errorf("a context has no address, got %q", a)
	}
	if c := strings.Join(hosts[0].Docker("info").Args, " "); c != "-H ssh://deploy@10.0.0.1 info" {
		t.Errorf("argv %q", c)
	}
	if c := strings.Join(hosts[1].Docker("info").Args, " "); c != "--context prod-a info" {
		t.Errorf("argv %q", c)
	}
	for _, bad := range []struct{ managers, workers, want string }{
		{"", "ssh://a@b", "SWARM_MANAGERS is empty"},
		{"http://10.0.0.1", "", `SWARM_MANAGERS: "http://10.0.0.1" has the scheme http`},
		{"ssh://", "", `"ssh://" names no host`},
		{"a", "b c", `SWARM_WORKERS: "b c" is neither a docker host`},
		{"a", "a", `SWARM_WORKERS: "a" is listed twice (also in SWARM_MANAGERS)`},
		{"unix://run/x.sock", "", "is not an absolute socket path"},
	} {
		_, err := ParseHosts(bad.managers, bad.workers)
		oneLine(t, err, bad.want)
	}
	if _, err := DataNodeIndex(hosts, "ssh://deploy@10.0.0.9"); err == nil || !strings.Contains(err.Error(), "SWARM_DATA_NODE=ssh://deploy@10.0.0.9 is not one of the listed nodes") {
		t.Errorf("an unknown data node: %v", err)
	}
	if i, err := DataNodeIndex(hosts, "tcp://10.0.0.3:2376"); i != 2 || err != nil {
		t.Errorf("data node %d %v", i, err)
	}
}

func recordedNodes(t *testing.T) []Node {
	t.Helper()
	nodes, err := ParseNodes(recorded(t, "node-inspect-drained.json"))
	if err != nil {
		t.Fatal(err)
	}
	return nodes
}

// The data label on the recorded swarm: its manager rribyd… carries it.
func TestDataLabelChange(t *testing.T) {
	nodes := recordedNodes(t)
	if add, err := DataLabelChange(nodes, "rribydlq99dzyhzoyh5r29iis"); add || err != nil {
		t.Errorf("the labelled node: add %v, %v; want nothing to do", add, err)
	}
	_, err := DataLabelChange(nodes, "ln5s1esart91fgcuhvc9sfqps")
	oneLine(t, err, "node vm (rribydlq99dz, 10.231.0.1) already carries dtx.data=true", "nothing was labelled")
	for i := range nodes {
		delete(nodes[i].Labels, DataLabel)
	}
	if add, err := DataLabelChange(nodes, "ln5s1esart91fgcuhvc9sfqps"); !add || err != nil {
		t.Errorf("no node labelled: add %v, %v; want the label added", add, err)
	}
}

func TestNodeLines(t *testing.T) {
	got := strings.Join(NodeLines(recordedNodes(t)), "\n")
	want := `ID            HOSTNAME  ROLE              AVAILABILITY  STATUS  ADDRESS     ENGINE        LABELS
rribydlq99dz  vm        manager (leader)  active        ready   10.231.0.1  26.1.5+dfsg1  dtx.data=true
uhvqr1zd5p4h  vm        manager           active        ready   10.231.1.3  26.1.5+dfsg1  -
ln5s1esart91  vm        worker            drain         ready   10.231.0.2  26.1.5+dfsg1  -`
	if got != want {
		t.Errorf("swarm:nodes printed\n%s\nwant\n%s", got, want)
	}
}

func TestFindNode(t *testing.T) {
	nodes := recordedNodes(t)
	for word, id := range map[string]string{"ln5s": "ln5s1esart91fgcuhvc9sfqps", "10.231.1.3": "uhvqr1zd5p4hc8abairmy8820", "rribydlq99dzyhzoyh5r29iis": "rribydlq99dzyhzoyh5r29iis"} {
		if n, err := FindNode(nodes, word); err != nil || n.ID != id {
			t.Errorf("%s: %v %v, want %s", word, n.ID, err, id)
		}
	}
	_, err := FindNode(nodes, "vm")
	oneLine(t, err, `"vm" names 3 nodes`, "vm (ln5s1esart91, 10.231.0.2)")
	_, err = FindNode(nodes, "web3")
	oneLine(t, err, `no node of the swarm is "web3"`, "vm (uhvqr1zd5p4h, 10.231.1.3)")
}

// A drain of the recorded swarm's worker ln5s…: right after docker node
// update, nginx (global) still runs 3 tasks for 2 wanted; four seconds on
// it has converged.
func TestSettledOnARecordedDrain(t *testing.T) {
	names, onData := ServiceNames(recorded(t, "services-inspect.txt"), "dtxrec")
	if !slices.Equal(onData, []string{"redis"}) || names["ija6mkapvcmx10bwsonkrwwkq"] != "frontend" {
		t.Fatalf("names %v, on the data node %v", names, onData)
	}
	const away = "ln5s1esart91fgcuhvc9sfqps"
	before := ParsePlaced(recorded(t, "ps-after-activate.txt"), names)
	if ok, _ := Settled(ParseReplicas(recorded(t, "ls-after-activate.txt"), "dtxrec"), before, away, nil); ok {
		t.Error("settled before the drain, with nginx's task on the node")
	}
	ok, waiting := Settled(ParseReplicas(recorded(t, "ls-drain-0s.txt"), "dtxrec"), ParsePlaced(recorded(t, "ps-drain-0s.txt"), names), away, nil)
	if ok || waiting != "nginx 3/2" {
		t.Errorf("right after the drain: settled %v, waiting for %q; want nginx 3/2", ok, waiting)
	}
	after := ParsePlaced(recorded(t, "ps-drain-4s.txt"), names)
	if ok, waiting := Settled(ParseReplicas(recorded(t, "ls-drain-4s.txt"), "dtxrec"), after, away, nil); !ok {
		t.Errorf("4 s after the drain: not settled, waiting for %s", waiting)
	}
	got := Whereabouts("dtxrec", after, recordedNodes(t))
	want := []string{"dtxrec_frontend: vm 10.231.0.1, vm 10.231.1.3", "dtxrec_nginx: vm 10.231.0.1, vm 10.231.1.3", "dtxrec_redis: vm 10.231.0.1"}
	if !slices.Equal(got, want) {
		t.Errorf("whereabouts\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Draining the data node with -force: redis cannot run anywhere else,
	// and the wait does not wait for it.
	replicas := map[string]string{"frontend": "2/2", "redis": "0/1"}
	moved := []Placed{{Task: "t1", Service: "frontend", Node: "uhvqr1zd5p4hc8abairmy8820", State: "Running"}, {Task: "t2", Service: "frontend", Node: "ln5s1esart91fgcuhvc9sfqps", State: "Running"}}
	if ok, waiting := Settled(replicas, moved, "rribydlq99dzyhzoyh5r29iis", onData); !ok {
		t.Errorf("the data node's services were waited for: %s", waiting)
	}
	// service ls counts a task that is still stopping as running: while
	// the new task of its slot waits (stop-first), the slot is not settled.
	if ok, waiting := Settled(replicas, moved[:1], "rribydlq99dzyhzoyh5r29iis", onData); ok || waiting != "frontend 1/2 meant to run" {
		t.Errorf("one of two frontend tasks running: settled %v (%s)", ok, waiting)
	}
}

// swarm:ps's last error of each service, on the stack ps of a service
// whose task exits 1 on a worker (recorded), and the deploy's logs
// command for such a task: the manager reads them from the worker.
func TestLastErrorsAndLogs(t *testing.T) {
	last := LastErrors(ParseTasks(recorded(t, "stack-ps-failing.txt"), "dtxrec"))
	want := `dtxrec_redis.1 rnuv9131mrm9btdg2zbsvd2j6 (failed): "task: non-zero exit (1)"`
	if len(last) != 1 || last["redis"] != want {
		t.Errorf("last errors %v, want redis: %s", last, want)
	}
	if got := strings.Join(taskLogsCommand("rnuv9131mrm9btdg2zbsvd2j6").Args, " "); got != "service logs --tail 20 --raw --no-trunc rnuv9131mrm9btdg2zbsvd2j6" {
		t.Errorf("argv %q", got)
	}
	if logs := recorded(t, "logs-task.txt"); !strings.Contains(logs, "open /data/dump.rdb: permission denied") {
		t.Errorf("the recorded logs lack the task's stderr: %q", logs)
	}
}

// A deploy that fails names the task it is told by, whose logs it shows.
func TestFailedOutcomesNameTheirTask(t *testing.T) {
	for rec, svc := range map[string]string{"unhealthy-new": "backend", "frontend-overloaded": "frontend", "whole-rollback": "backend"} {
		ws := waits(t, readCalls(t, rec), "dtxrec")
		final, _, _, _ := replay(t, ws[0], "dtxrec")
		o := final[svc]
		if o.Task == "" || !regexp.MustCompile(`^[a-z0-9]{25}$`).MatchString(o.Task) || !strings.Contains(o.Reason, o.Task) {
			t.Errorf("%s: %s's outcome %+v names no task", rec, svc, o)
		}
	}
}

func TestSetupDryRun(t *testing.T) {
	root := releaseRoot(t, "")
	before := files(t, root)
	o, out, log := newSession(root, true, noEngine, "SWARM_MANAGERS=unix:///nonexistent/m1.sock", "SWARM_WORKERS=unix:///nonexistent/w1.sock,unix:///nonexistent/w2.sock",
		"SWARM_ADVERTISE=10.0.0.1", "REGISTRY=reg.example/site", "VERSION=2.0.0")
	if err := onStack(o, func(s *Stack) error { return s.Setup(context.Background()) }); err != nil {
		t.Fatalf("dry run: %v\n%s", err, log)
	}
	var got []string
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.HasPrefix(l, "[dry-run] docker") {
			got = append(got, l)
		}
	}
	want := []string{
		"[dry-run] docker -H unix:///nonexistent/m1.sock swarm init --advertise-addr 10.0.0.1 > (its output, the join token masked)",
		"[dry-run] docker -H unix:///nonexistent/w1.sock swarm join --token '<the worker join token>' '<its address>:2377'",
		"[dry-run] docker -H unix:///nonexistent/w2.sock swarm join --token '<the worker join token>' '<its address>:2377'",
		"[dry-run] docker -H unix:///nonexistent/m1.sock node update --label-add dtx.data=true '<the node ID of unix:///nonexistent/m1.sock>'",
		"[dry-run] docker -H unix:///nonexistent/m1.sock pull --quiet reg.example/site/backend:2.0.0",
		"[dry-run] docker -H unix:///nonexistent/w1.sock pull --quiet reg.example/site/backend:2.0.0",
		"[dry-run] docker -H unix:///nonexistent/w2.sock pull --quiet reg.example/site/backend:2.0.0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(log.String(), "unix:///nonexistent/w2.sock does not answer") {
		t.Errorf("the dry run did not say a node does not answer:\n%s", log)
	}
	if out.Len() != 0 {
		t.Errorf("the dry run printed nodes: %s", out)
	}
	if after := files(t, root); !slices.Equal(before, after) {
		t.Errorf("the dry run changed the project: %v -> %v", before, after)
	}
}

func TestBadSetupInput(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "SWARM_MANAGERS is empty"},
		{[]string{"SWARM_MANAGERS=unix:///nonexistent/m1.sock", "SWARM_DATA_NODE=web9"}, "SWARM_DATA_NODE=web9 is not one of the listed nodes"},
		{[]string{"SWARM_MANAGERS=unix:///nonexistent/m1.sock"}, "node unix:///nonexistent/m1.sock does not answer docker info"},
	} {
		root := releaseRoot(t, "")
		o, _, _ := newSession(root, false, append([]string{noEngine}, tc.env...)...)
		err := onStack(o, func(s *Stack) error { return s.Setup(context.Background()) })
		oneLine(t, err, tc.want)
	}
}

func TestDrainDryRunWithoutAManager(t *testing.T) {
	root := releaseRoot(t, "")
	o, _, log := newSession(root, true, noEngine)
	if err := onStack(o, func(s *Stack) error { return s.Drain(context.Background(), "web2", false) }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "[dry-run] docker node update --availability drain web2\n") {
		t.Errorf("the dry run did not print the drain:\n%s", log)
	}
}
