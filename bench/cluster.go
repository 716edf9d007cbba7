package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/loadtest"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/testcluster"
)

// clusterRow is one line of the cluster measurement's table: what was
// done, how long it took, and what the load saw at each node meanwhile.
type clusterRow struct {
	what   string
	took   time.Duration
	counts []loadtest.Count // by node, in the cluster's order
	note   string
}

// clusterMeasure runs the release stack on a three-node swarm of
// internal/testcluster (the engines of TestCluster) under a load at
// every node's address, and measures: a rolling update each way, a drain
// and activate of a worker, and the loss of the other worker (SIGKILL to
// its engine, its link down): how long until Swarm marked it down, until
// every service ran on the other two, and the requests failed meanwhile
// and after. The tool talks to the manager's socket.
func (b *bench) clusterMeasure(ctx context.Context) error {
	if !b.cluster {
		say("skipped (-cluster runs it: about 5 minutes)")
		return nil
	}
	if err := testcluster.Check(); err != nil {
		return err
	}
	c, err := testcluster.Up(ctx, testcluster.Options{Logf: func(f string, a ...any) { say(f, a...) }})
	if err != nil {
		return err
	}
	defer c.Down()
	manager, worker, lost := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	env := append([]string{"DOCKER_HOST=" + manager.Host, "REGISTRY=" + c.Registry + "/" + b.prefix,
		"HTTP_PORT=80", "HTTPS_PORT=443", "PUBLISH_ADDRESS=0.0.0.0",
		"SWARM_MANAGERS=" + manager.Host, "SWARM_WORKERS=" + worker.Host + "," + lost.Host, "SWARM_ADVERTISE=" + manager.Addr}, deployEnv...)
	onManager := func(args ...string) (string, error) {
		out, err := b.must(ctx, runner.Command{Name: "docker", Args: args}, env...)
		return strings.TrimSpace(out), err
	}
	if _, err := b.must(ctx, b.dtx("swarm:setup"), env...); err != nil {
		return err
	}
	if base := b.vars["REDIS_IMAGE"]; base != "" {
		// The stand-in base has no /data owned by redis (999), which the
		// official image has (as in TestCluster); on the data node.
		img := b.prefix + "-redis:bench"
		c := runner.Command{Name: "docker", Args: []string{"build", "-q", "-t", img, "-"},
			Stdin: strings.NewReader("FROM " + base + "\nRUN mkdir -p /data && chown 999:999 /data\n")}
		if _, err := b.must(ctx, c, env...); err != nil {
			return err
		}
		env = append(env, "REDIS_IMAGE="+img)
	}
	v1, v2 := deployVersion{"one", "1.0.0"}, deployVersion{"two", "1.1.0"}
	for _, v := range []deployVersion{v1, v2} {
		if err := b.writeMarkers(v); err != nil {
			return err
		}
		for _, target := range []string{"docker:build", "docker:push"} {
			if _, err := b.must(ctx, b.dtx(target), append(env, "VERSION="+v.version)...); err != nil {
				return err
			}
		}
	}
	if _, err := b.must(ctx, b.dtx("swarm:deploy"), append(env, "VERSION="+v1.version)...); err != nil {
		return err
	}
	var streams []*loadtest.Stream
	for _, n := range c.Nodes {
		client, err := loadtest.ClientAt(filepath.Join(b.root, "nginx/data/ssl/fullchain.pem"), deployDomain, n.Addr, "443")
		if err != nil {
			return err
		}
		l := loadtest.Start(client, "https://"+deployDomain, []string{v1.marker, v2.marker})
		defer l.Close()
		streams = append(streams, l)
	}
	take := func() []loadtest.Count {
		var counts []loadtest.Count
		for _, l := range streams {
			n, _, _ := l.Take()
			counts = append(counts, n)
		}
		return counts
	}
	var rows []clusterRow
	phase := func(what string, fn func() error) error {
		take()
		start := time.Now()
		if err := fn(); err != nil {
			return err
		}
		took := time.Since(start)
		time.Sleep(time.Second) // answers right after count too
		rows = append(rows, clusterRow{what: what, took: took, counts: take()})
		say("cluster: %s: %s", what, fmtDur(took))
		return nil
	}
	time.Sleep(3 * time.Second)
	for _, v := range []deployVersion{v2, v1} {
		err := phase("rolling update to "+v.version+" (swarm:deploy, until converged)", func() error {
			_, err := b.must(ctx, b.dtx("swarm:deploy"), append(env, "VERSION="+v.version)...)
			return err
		})
		if err != nil {
			return err
		}
	}
	err = phase("swarm:drain "+worker.Name+", then swarm:activate", func() error {
		for _, target := range []string{"swarm:drain", "swarm:activate"} {
			if _, err := b.must(ctx, b.dtx(target, worker.Name), env...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rows[len(rows)-1].note = worker.Name + " drained: its own address refuses meanwhile"
	// The loss: the counts until Swarm marks the node down, until every
	// service runs on the other two, and in the 15 s after.
	time.Sleep(3 * time.Second)
	take()
	killed := time.Now()
	if err := c.Kill(lost); err != nil {
		return err
	}
	if err := waitFor(ctx, 2*time.Minute, func() bool {
		st, _ := onManager("node", "inspect", "--format", "{{.Status.State}}", lost.Name)
		return st == "down"
	}); err != nil {
		return fmt.Errorf("Swarm did not mark %s down: %w", lost.Name, err)
	}
	rows = append(rows, clusterRow{what: "kill " + lost.Name + ": until Swarm marked it down", took: time.Since(killed), counts: take()})
	if err := waitFor(ctx, 2*time.Minute, func() bool { return b.survivorsRun(onManager, lost.Name) }); err != nil {
		return fmt.Errorf("the services did not all run on the other nodes: %w", err)
	}
	rows = append(rows, clusterRow{what: "then until every service ran on the other two", took: time.Since(killed), counts: take(), note: "seconds from the kill"})
	time.Sleep(15 * time.Second)
	rows = append(rows, clusterRow{what: "the 15 s after", took: 15 * time.Second, counts: take()})
	b.results.cluster = clusterTable(c.Nodes, rows)
	return nil
}

// survivorsRun tells whether every service of the stack runs all its
// tasks on nodes other than lost (a down node's tasks stay "running" in
// Swarm's books: they are not counted).
func (b *bench) survivorsRun(onManager func(...string) (string, error), lost string) bool {
	out, err := onManager("service", "ls", "--filter", "label=com.docker.stack.namespace="+b.prefix, "--format", "{{.Name}} {{.Mode}} {{.Replicas}}")
	if err != nil {
		return false
	}
	nodes, err := onManager("node", "ls", "--filter", "role=worker", "--format", "{{.Hostname}} {{.Status}}")
	if err != nil {
		return false
	}
	ready := 1 // the manager
	for _, line := range strings.Split(nodes, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == "Ready" {
			ready++
		}
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			return false
		}
		want := 0
		if f[1] == "global" {
			want = ready
		} else if _, err := fmt.Sscanf(f[2][strings.Index(f[2], "/")+1:], "%d", &want); err != nil {
			return false
		}
		tasks, err := onManager("service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}", f[0])
		if err != nil {
			return false
		}
		running := 0
		for _, t := range strings.Split(tasks, "\n") {
			if tf := strings.Fields(t); len(tf) > 1 && tf[0] != lost && tf[1] == "Running" {
				running++
			}
		}
		if running != want {
			return false
		}
	}
	return true
}

// waitFor polls ok every half second for up to d.
func waitFor(ctx context.Context, d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("still not after %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// clusterTable is the measurement's table: a row per phase, a column per
// node (requests sent and failed there).
func clusterTable(nodes []*testcluster.Node, rows []clusterRow) string {
	var b strings.Builder
	b.WriteString("| Phase | Seconds |")
	for i := range nodes {
		role := "worker"
		if i == 0 {
			role = "manager, data"
		}
		fmt.Fprintf(&b, " node %d (%s): sent / failed |", i+1, role)
	}
	b.WriteString(" Note |\n| --- | ---: |")
	for range nodes {
		b.WriteString(" ---: |")
	}
	b.WriteString(" --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.1f |", r.what, r.took.Seconds())
		for _, n := range r.counts {
			fmt.Fprintf(&b, " %d / %d |", n.Sent, n.Failed())
		}
		fmt.Fprintf(&b, " %s |\n", r.note)
	}
	return b.String()
}
