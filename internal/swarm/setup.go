package swarm

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// The decisions of swarm:setup: which nodes it inits, joins or keeps, from
// each node's `docker info` (recorded outputs in testdata/cluster/). Pure:
// the run (setuprun.go) asks, this decides, before anything changes.

// The variables swarm:setup reads (env files, then the process).
const (
	ManagersVariable  = "SWARM_MANAGERS"  // docker hosts or contexts, comma separated; the first inits the swarm
	WorkersVariable   = "SWARM_WORKERS"   // the same, for workers
	AdvertiseVariable = "SWARM_ADVERTISE" // the first manager's address the others reach it at
	DataNodeVariable  = "SWARM_DATA_NODE" // which listed host keeps the stateful data; the first manager by default
)

// Host is one node of the cluster as the machine running the tool reaches
// it: a docker host (ssh://user@host, tcp://host:port, unix:///path) or a
// docker context's name.
type Host struct {
	Spec    string
	Manager bool
}

func (h Host) role() string {
	if h.Manager {
		return "manager"
	}
	return "worker"
}

// Docker is a docker command run against the host's engine.
func (h Host) Docker(args ...string) runner.Command {
	if strings.Contains(h.Spec, "://") {
		return session.Docker(append([]string{"-H", h.Spec}, args...)...)
	}
	return session.Docker(append([]string{"--context", h.Spec}, args...)...)
}

// Address is the host's IP address when its docker host names one
// (ssh://deploy@10.0.0.1), "" otherwise.
func (h Host) Address() string {
	u, err := url.Parse(h.Spec)
	if err != nil || u.Host == "" {
		return ""
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil {
		return ip.String()
	}
	return ""
}

// hostName is the host part of an ssh:// or tcp:// docker host.
func (h Host) hostName() string {
	if u, err := url.Parse(h.Spec); err == nil {
		return u.Hostname()
	}
	return ""
}

var contextName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.+-]*$`) })

// ParseHosts reads SWARM_MANAGERS and SWARM_WORKERS: the managers first.
// Errors are one line naming the variable and the value.
func ParseHosts(managers, workers string) ([]Host, error) {
	var hosts []Host
	seen := map[string]string{}
	for _, v := range []struct {
		name, value string
		manager     bool
	}{{ManagersVariable, managers, true}, {WorkersVariable, workers, false}} {
		for _, spec := range strings.Split(v.value, ",") {
			spec = strings.TrimSpace(spec)
			if spec == "" {
				continue
			}
			if err := checkHost(spec); err != nil {
				return nil, fmt.Errorf("%s: %q %v", v.name, spec, err)
			}
			if other, dup := seen[spec]; dup {
				return nil, fmt.Errorf("%s: %q is listed twice (also in %s): list each node once", v.name, spec, other)
			}
			seen[spec] = v.name
			hosts = append(hosts, Host{Spec: spec, Manager: v.manager})
		}
	}
	if len(hosts) == 0 || !hosts[0].Manager {
		return nil, fmt.Errorf("%s is empty: set it to the managers' docker hosts, comma separated (ssh://user@host or a docker context name; one or three managers)", ManagersVariable)
	}
	return hosts, nil
}

func checkHost(spec string) error {
	scheme, rest, ok := strings.Cut(spec, "://")
	if !ok {
		if contextName().MatchString(spec) {
			return nil
		}
		return fmt.Errorf("is neither a docker host (ssh://user@host, tcp://host:2376, unix:///path) nor a docker context name")
	}
	switch scheme {
	case "ssh", "tcp":
		u, err := url.Parse(spec)
		if err != nil || u.Hostname() == "" {
			return fmt.Errorf("names no host: write %s://user@host", scheme)
		}
	case "unix":
		if !strings.HasPrefix(rest, "/") {
			return fmt.Errorf("is not an absolute socket path: write unix:///path/to/docker.sock")
		}
	default:
		return fmt.Errorf("has the scheme %s, which docker does not reach: use ssh://, tcp:// or unix://", scheme)
	}
	return nil
}

// Info is what swarm:setup reads of `docker info --format '{{json .}}'`.
type Info struct {
	Name          string
	ServerVersion string
	Swarm         struct {
		NodeID           string
		NodeAddr         string
		LocalNodeState   string // inactive, pending, active, error, locked
		ControlAvailable bool   // a manager
		Error            string
		RemoteManagers   []struct{ NodeID, Addr string }
		Cluster          *struct{ ID string } // a manager's only
	}
	ServerErrors []string
}

// ParseInfo reads docker info's JSON. The docker CLI prints it, and exits
// 0, also when it reached no engine: the engine's error is then in
// ServerErrors, returned as the error.
func ParseInfo(out string) (Info, error) {
	var i Info
	if err := json.Unmarshal([]byte(out), &i); err != nil {
		return i, fmt.Errorf("docker info printed no JSON: %w", err)
	}
	if len(i.ServerErrors) > 0 {
		return i, fmt.Errorf("%s", strings.Join(strings.Fields(i.ServerErrors[0]), " "))
	}
	if i.ServerVersion == "" {
		return i, fmt.Errorf("docker info names no engine version")
	}
	return i, nil
}

func (i Info) active() bool  { return i.Swarm.LocalNodeState == "active" }
func (i Info) manager() bool { return i.active() && i.Swarm.ControlAvailable }

func (i Info) clusterID() string {
	if i.Swarm.Cluster == nil {
		return ""
	}
	return i.Swarm.Cluster.ID
}

// managerAddr is the swarm address a node joins this manager at: its own
// entry among the remote managers (ADDR:2377).
func (i Info) managerAddr() string {
	for _, m := range i.Swarm.RemoteManagers {
		if m.NodeID == i.Swarm.NodeID {
			return m.Addr
		}
	}
	if i.Swarm.NodeAddr != "" {
		return net.JoinHostPort(i.Swarm.NodeAddr, "2377")
	}
	return ""
}

// sameSwarm tells whether an active node belongs to the swarm anchor
// manages: a manager by its cluster ID; a worker, which does not know the
// cluster's ID, by the managers it talks to.
func sameSwarm(anchor, node Info) bool {
	if node.Swarm.ControlAvailable {
		return node.clusterID() != "" && node.clusterID() == anchor.clusterID()
	}
	for _, a := range anchor.Swarm.RemoteManagers {
		for _, m := range node.Swarm.RemoteManagers {
			if a.NodeID == m.NodeID {
				return true
			}
		}
	}
	return false
}

// SetupPlan is what swarm:setup does to the nodes.
type SetupPlan struct {
	// Anchor is the index of the manager the others join: the first
	// listed manager that manages a swarm, else the first manager, which
	// Init says to init.
	Anchor int
	Init   bool
	// Join are the indexes of the nodes that join, in order; Kept those
	// already in the swarm as listed.
	Join, Kept []int
}

// Changes tells whether the plan changes any node.
func (p SetupPlan) Changes() bool { return p.Init || len(p.Join) > 0 }

// PlanSetup decides, from each host's docker info (infos[i] is hosts[i]'s),
// which node inits the swarm and which join it. It refuses, in one line
// naming the host, a node in another swarm, one whose swarm state is not
// settled, one in the swarm with another role than listed, and two hosts
// that are one node.
func PlanSetup(hosts []Host, infos []Info) (SetupPlan, error) {
	p := SetupPlan{Anchor: -1}
	for i, h := range hosts {
		if h.Manager && infos[i].manager() {
			p.Anchor = i
			break
		}
	}
	if p.Anchor < 0 {
		p.Anchor, p.Init = 0, true
	}
	anchor := infos[p.Anchor]
	ids := map[string]string{}
	for i, h := range hosts {
		in := infos[i]
		switch state := in.Swarm.LocalNodeState; state {
		case "inactive":
			if i != p.Anchor {
				p.Join = append(p.Join, i)
			}
			continue
		case "active":
		default:
			why := ""
			if in.Swarm.Error != "" {
				why = " (" + in.Swarm.Error + ")"
			}
			return p, fmt.Errorf("node %s is in the swarm state %q%s: settle it there (docker swarm unlock, or docker swarm leave --force) and run swarm:setup again; nothing was changed", h.Spec, state, why)
		}
		if other, dup := ids[in.Swarm.NodeID]; dup {
			return p, fmt.Errorf("%s and %s are the same node (%s): list each node once; nothing was changed", other, h.Spec, in.Swarm.NodeID)
		}
		ids[in.Swarm.NodeID] = h.Spec
		if p.Init || (i != p.Anchor && !sameSwarm(anchor, in)) {
			return p, fmt.Errorf("node %s belongs to another swarm (%s): run docker swarm leave there first (its services stop), or leave it out of %s and %s; nothing was changed", h.Spec, describeSwarm(in), ManagersVariable, WorkersVariable)
		}
		if in.Swarm.ControlAvailable != h.Manager {
			fix := "docker node promote " + in.Swarm.NodeID
			if in.Swarm.ControlAvailable {
				fix = "docker node demote " + in.Swarm.NodeID
			}
			return p, fmt.Errorf("node %s is a %s of the swarm but is listed as a %s: list it in %s, or run %s; nothing was changed", h.Spec, Host{Manager: in.Swarm.ControlAvailable}.role(), h.role(), listOf(!h.Manager), fix)
		}
		p.Kept = append(p.Kept, i)
	}
	return p, nil
}

func listOf(manager bool) string {
	if manager {
		return ManagersVariable
	}
	return WorkersVariable
}

// describeSwarm names the swarm a node is in: its cluster ID (a manager),
// else its managers' addresses.
func describeSwarm(in Info) string {
	if id := in.clusterID(); id != "" {
		return "cluster " + id + ", node " + in.Swarm.NodeID
	}
	var addrs []string
	for _, m := range in.Swarm.RemoteManagers {
		addrs = append(addrs, m.Addr)
	}
	return "a worker of the managers at " + strings.Join(addrs, ", ")
}

// DataNodeIndex is the index of the host SWARM_DATA_NODE names (the first
// manager when it is empty).
func DataNodeIndex(hosts []Host, value string) (int, error) {
	if value == "" {
		return 0, nil
	}
	var specs []string
	for i, h := range hosts {
		if h.Spec == value {
			return i, nil
		}
		specs = append(specs, h.Spec)
	}
	return -1, fmt.Errorf("%s=%s is not one of the listed nodes (%s): set it to one of them, as written there", DataNodeVariable, value, strings.Join(specs, ", "))
}

// DataLabelChange decides the data label: whether node dataID must get
// DataLabel=true. Another node that carries it already is refused: the
// stateful services' volumes are there, and moving the label would start
// them empty elsewhere.
func DataLabelChange(nodes []Node, dataID string) (add bool, err error) {
	for _, n := range nodes {
		if n.ID != dataID && n.Labels[DataLabel] == "true" {
			return false, fmt.Errorf("node %s already carries %s=true, so the stateful services' data is there: set %s to that node, or move the data and run docker node update --label-rm %s %s; nothing was labelled", n.Name(), DataLabel, DataNodeVariable, DataLabel, short(n.ID))
		}
	}
	for _, n := range nodes {
		if n.ID == dataID {
			return n.Labels[DataLabel] != "true", nil
		}
	}
	return false, fmt.Errorf("the data node %s is not among the swarm's nodes", short(dataID))
}
