package swarm

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The swarm's nodes as the manager shows them (docker node inspect), and
// where the stack's tasks run on them: pure, tested on recorded outputs in
// testdata/cluster/.

// Node is one node of the swarm, from docker node inspect.
type Node struct {
	ID           string
	Hostname     string
	Role         string // manager, worker
	Availability string // active, pause, drain
	Status       string // ready, down, unknown…
	Addr         string
	Labels       map[string]string
	Engine       string
	Leader       bool
	Reachability string // a manager's: reachable, unreachable
}

// ParseNodes reads the JSON array docker node inspect prints, sorted by
// role (managers first) then address.
func ParseNodes(out string) ([]Node, error) {
	var raw []struct {
		ID   string
		Spec struct {
			Role, Availability string
			Labels             map[string]string
		}
		Description struct {
			Hostname string
			Engine   struct{ EngineVersion string }
		}
		Status        struct{ State, Addr string }
		ManagerStatus *struct {
			Leader       bool
			Reachability string
		}
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, fmt.Errorf("docker node inspect printed no node list: %w", err)
	}
	nodes := make([]Node, 0, len(raw))
	for _, r := range raw {
		n := Node{ID: r.ID, Hostname: r.Description.Hostname, Role: r.Spec.Role, Availability: r.Spec.Availability,
			Status: r.Status.State, Addr: r.Status.Addr, Labels: r.Spec.Labels, Engine: r.Description.Engine.EngineVersion}
		if r.ManagerStatus != nil {
			n.Leader, n.Reachability = r.ManagerStatus.Leader, r.ManagerStatus.Reachability
		}
		nodes = append(nodes, n)
	}
	sort.SliceStable(nodes, func(i, j int) bool {
		if nodes[i].Role != nodes[j].Role {
			return nodes[i].Role == "manager"
		}
		return nodes[i].Addr < nodes[j].Addr
	})
	return nodes, nil
}

// Name is how the tool names a node in its messages: its hostname and the
// start of its ID (hostnames need not differ).
func (n Node) Name() string { return fmt.Sprintf("%s (%s, %s)", n.Hostname, short(n.ID), n.Addr) }

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// NodeLines is swarm:nodes' table: a header, then one line a node.
func NodeLines(nodes []Node) []string {
	rows := [][]string{{"ID", "HOSTNAME", "ROLE", "AVAILABILITY", "STATUS", "ADDRESS", "ENGINE", "LABELS"}}
	for _, n := range nodes {
		role := n.Role
		if n.Leader {
			role += " (leader)"
		} else if n.Role == "manager" && n.Reachability != "" && n.Reachability != "reachable" {
			role += " (" + n.Reachability + ")"
		}
		var labels []string
		for _, k := range sortedKeys(n.Labels) {
			labels = append(labels, k+"="+n.Labels[k])
		}
		l := strings.Join(labels, ",")
		if l == "" {
			l = "-"
		}
		rows = append(rows, []string{short(n.ID), n.Hostname, role, n.Availability, n.Status, n.Addr, n.Engine, l})
	}
	return columns(rows)
}

// columns pads each cell to its column's width (the last column is not padded).
func columns(rows [][]string) []string {
	var width []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len(c))
		}
	}
	out := make([]string, len(rows))
	for k, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			fmt.Fprintf(&b, "%-*s  ", width[i], c)
		}
		out[k] = strings.TrimRight(b.String(), " ")
	}
	return out
}

// FindNode is the node that word names: its ID, the unique start of its
// ID, its unique hostname or its address. Otherwise the error is one line
// listing the nodes.
func FindNode(nodes []Node, word string) (Node, error) {
	var hits []Node
	for _, n := range nodes {
		if n.ID == word {
			return n, nil
		}
		if strings.HasPrefix(n.ID, word) || n.Hostname == word || n.Addr == word {
			hits = append(hits, n)
		}
	}
	if len(hits) == 1 && word != "" {
		return hits[0], nil
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name())
	}
	if len(hits) > 1 {
		return Node{}, fmt.Errorf("%q names %d nodes: give the node's ID; the swarm's nodes are %s", word, len(hits), strings.Join(names, ", "))
	}
	return Node{}, fmt.Errorf("no node of the swarm is %q: give an ID, hostname or address of one of %s", word, strings.Join(names, ", "))
}

// Placed is one running task of the stack: its service (without the
// stack's prefix) and its node's ID.
type Placed struct {
	Task, Service, Node, State string
}

// ServiceNames reads `docker service inspect --format
// '{{.ID}}|{{.Spec.Name}}|{{json .Spec.TaskTemplate.Placement}}'`: each
// service's name (without the stack's prefix) by ID, and the services
// bound to the node labelled DataLabel (their tasks cannot move).
func ServiceNames(out, stack string) (names map[string]string, onData []string) {
	names = map[string]string{}
	for _, line := range lines(out) {
		f := strings.SplitN(line, "|", 3)
		if len(f) != 3 {
			continue
		}
		name := strings.TrimPrefix(f[1], stack+"_")
		names[f[0]] = name
		var p struct{ Constraints []string }
		_ = json.Unmarshal([]byte(f[2]), &p)
		for _, c := range p.Constraints {
			if strings.Contains(c, "node.labels."+DataLabel) {
				onData = append(onData, name)
				break
			}
		}
	}
	sort.Strings(onData)
	return names, onData
}

// ParsePlaced reads `docker stack ps --no-resolve --no-trunc --filter
// desired-state=running --format '{{.ID}}|{{.Name}}|{{.Node}}|{{.CurrentState}}'`
// (task names are SERVICEID.SLOT there), naming services by names.
func ParsePlaced(out string, names map[string]string) []Placed {
	var placed []Placed
	for _, line := range lines(out) {
		f := strings.SplitN(line, "|", 4)
		if len(f) != 4 {
			continue
		}
		id, _, _ := strings.Cut(f[1], ".")
		svc, ok := names[id]
		if !ok {
			svc = id
		}
		state := ""
		if w := strings.Fields(f[3]); len(w) > 0 {
			state = w[0]
		}
		placed = append(placed, Placed{Task: f[0], Service: svc, Node: f[2], State: state})
	}
	return placed
}

// Settled tells whether the stack has converged around a node: every
// service runs as many tasks as it wants (but those in skip), every task
// meant to run is Running, and none is on node away (a drained node; ""
// for none). It returns what is still awaited, for the wait's message.
func Settled(replicas map[string]string, placed []Placed, away string, skip []string) (bool, string) {
	var waiting []string
	running := map[string]int{}
	for _, p := range placed {
		if p.State == "Running" && p.Node != away {
			running[p.Service]++
		}
	}
	for _, name := range sortedKeys(replicas) {
		if contains(skip, name) || zero(replicas[name]) {
			continue
		}
		// service ls counts a task still stopping as running, so the
		// tasks meant to run are counted too: a slot whose new task waits
		// for its old one to stop is not settled.
		_, desired, _ := strings.Cut(replicas[name], "/")
		if !fullyRunning(replicas[name]) {
			waiting = append(waiting, name+" "+replicas[name])
		} else if strconv.Itoa(running[name]) != desired {
			waiting = append(waiting, fmt.Sprintf("%s %d/%s meant to run", name, running[name], desired))
		}
	}
	for _, p := range placed {
		if contains(skip, p.Service) {
			continue
		}
		if away != "" && p.Node == away {
			waiting = append(waiting, "task "+p.Task+" of "+p.Service+" still on the node")
		} else if p.State != "Running" {
			waiting = append(waiting, "task "+p.Task+" of "+p.Service+" "+strings.ToLower(p.State))
		}
	}
	return len(waiting) == 0, strings.Join(waiting, ", ")
}

// zero is a service that wants no task (0/0): nothing to wait for.
func zero(r string) bool { return r == "0/0" }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Whereabouts is, per service in order, "SERVICE: node, node…", naming
// each node as Name does (by its ID when the node is unknown).
func Whereabouts(stack string, placed []Placed, nodes []Node) []string {
	byID := map[string]Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	on := map[string][]string{}
	for _, p := range placed {
		where := short(p.Node)
		if n, ok := byID[p.Node]; ok {
			where = n.Hostname + " " + n.Addr
		}
		on[p.Service] = append(on[p.Service], where)
	}
	var out []string
	for _, svc := range sortedKeys(on) {
		sort.Strings(on[svc])
		out = append(out, fmt.Sprintf("%s_%s: %s", stack, svc, strings.Join(on[svc], ", ")))
	}
	return out
}
