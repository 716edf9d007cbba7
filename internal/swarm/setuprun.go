package swarm

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"

	"github.com/kettleofketchup/dtx_website/internal/roles"
)

// infoJSONArgs print an engine's docker info as JSON (see ParseInfo).
var infoJSONArgs = []string{"info", "--format", "{{json .}}"}

// Setup brings the listed nodes into one swarm: it inits the first
// manager when no listed manager manages one, joins the others with the
// tokens it reads from that manager (never printed), labels the data node,
// checks that each node can pull from REGISTRY, and shows the nodes. A
// second run changes nothing and says so.
func (s *Stack) Setup(ctx context.Context) error {
	hosts, err := ParseHosts(s.Env.Value(ManagersVariable), s.Env.Value(WorkersVariable))
	if err != nil {
		return err
	}
	dataIndex, err := DataNodeIndex(hosts, s.Env.Value(DataNodeVariable))
	if err != nil {
		return err
	}
	infos := make([]Info, len(hosts))
	for i, h := range hosts {
		infos[i], err = s.nodeInfo(ctx, h)
		if err != nil {
			return err
		}
	}
	plan, err := PlanSetup(hosts, infos)
	if err != nil {
		return err
	}
	anchor := hosts[plan.Anchor]
	for _, i := range plan.Kept {
		s.Say("%s: %s of the swarm already (node %s, engine %s)", hosts[i].Spec, hosts[i].role(), short(infos[i].Swarm.NodeID), infos[i].ServerVersion)
	}
	join := infos[plan.Anchor].managerAddr()
	if plan.Init {
		addr, err := s.advertise(anchor)
		if err != nil {
			return err
		}
		args := []string{"swarm", "init"}
		if addr != "" {
			args = append(args, "--advertise-addr", addr)
		}
		if err := s.initSwarm(ctx, anchor, args); err != nil {
			return err
		}
		if s.DryRun {
			join = "<its address>:2377"
		} else if infos[plan.Anchor], err = s.nodeInfo(ctx, anchor); err != nil {
			return err
		} else {
			join = infos[plan.Anchor].managerAddr()
		}
	}
	for _, i := range plan.Join {
		h := hosts[i]
		token, err := s.joinToken(ctx, anchor, h.role())
		if err != nil {
			return err
		}
		args := []string{"swarm", "join", "--token", token}
		if a := h.Address(); a != "" {
			args = append(args, "--advertise-addr", a)
		}
		if err := s.Run(ctx, h.Docker(append(args, join)...)); err != nil {
			return fmt.Errorf("%s: docker swarm join failed: %w", h.Spec, err)
		}
		if !s.DryRun {
			if infos[i], err = s.nodeInfo(ctx, h); err != nil {
				return err
			}
		}
	}
	labelled, err := s.labelDataNode(ctx, anchor, hosts[dataIndex], infos[dataIndex])
	if err != nil {
		return err
	}
	if err := s.checkPulls(ctx, hosts); err != nil {
		return err
	}
	if !plan.Changes() && !labelled {
		s.Say("the swarm is as listed: %d node(s) in it, %s keeps the data (%s=true); nothing changed", len(hosts), hosts[dataIndex].Spec, DataLabel)
	}
	if s.DryRun {
		return nil
	}
	return s.showNodes(ctx, anchor.Docker)
}

// swarmToken is how a swarm's join tokens start.
var swarmToken = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`SWMTKN-[0-9A-Za-z-]+`) })

// initSwarm runs docker swarm init on the first manager. Its output holds
// the worker join token (the command to join with), so it is kept, its
// tokens registered as secrets, and only then said, masked.
func (s *Stack) initSwarm(ctx context.Context, anchor Host, args []string) error {
	var out bytes.Buffer
	c := anchor.Docker(args...)
	c.Stdout, c.StdoutNote = &out, "(its output, the join token masked)"
	err := s.Run(ctx, c)
	s.AddSecrets(swarmToken().FindAllString(out.String(), -1)...)
	for _, l := range lines(out.String()) {
		s.Say("    %s", l)
	}
	if err != nil {
		return fmt.Errorf("%s: docker swarm init failed: %w", anchor.Spec, err)
	}
	return nil
}

// nodeInfo asks a node's engine for its docker info. In a dry run a node
// that does not answer is taken for one outside any swarm, and said so.
func (s *Stack) nodeInfo(ctx context.Context, h Host) (Info, error) {
	c := h.Docker(infoJSONArgs...)
	out, err := s.Query(ctx, c)
	var info Info
	if err == nil {
		info, err = ParseInfo(out)
	}
	if err != nil && s.DryRun {
		s.Say("[dry-run] %s does not answer (%v): taken for a node outside any swarm", h.Spec, err)
		info = Info{ServerVersion: "?"}
		info.Swarm.LocalNodeState = "inactive"
		return info, nil
	}
	if err != nil {
		return Info{}, fmt.Errorf("node %s does not answer docker info (%v): check that it is reachable from here (ssh, its docker daemon) and run swarm:setup again", h.Spec, err)
	}
	return info, nil
}

// advertise is the address the first manager is reached at by the others:
// SWARM_ADVERTISE, else the address its docker host names or resolves to,
// else "" (docker picks the node's only address).
func (s *Stack) advertise(h Host) (string, error) {
	if a := s.Env.Value(AdvertiseVariable); a != "" {
		if strings.ContainsAny(a, " ,/") {
			return "", fmt.Errorf("%s=%q is not an address: give the IP address (or interface) of %s that the other nodes reach", AdvertiseVariable, a, h.Spec)
		}
		return a, nil
	}
	if a := h.Address(); a != "" {
		return a, nil
	}
	if name := h.hostName(); name != "" {
		ips, err := net.LookupIP(name)
		if err != nil || len(ips) == 0 {
			return "", fmt.Errorf("%s: %s does not resolve here (%v): set %s to the IP address the other nodes reach it at", h.Spec, name, err, AdvertiseVariable)
		}
		for _, ip := range ips {
			if ip.To4() != nil {
				return ip.String(), nil
			}
		}
		return ips[0].String(), nil
	}
	return "", nil
}

// joinToken reads the manager's join token for role, and registers it as
// a secret before any command carries it. A dry run reads none.
func (s *Stack) joinToken(ctx context.Context, anchor Host, role string) (string, error) {
	if s.DryRun {
		return "<the " + role + " join token>", nil
	}
	out, err := s.Query(ctx, anchor.Docker("swarm", "join-token", "-q", role))
	token := strings.TrimSpace(out)
	s.AddSecrets(token)
	if err != nil || token == "" {
		return "", fmt.Errorf("%s: no %s join token from the manager (%v)", anchor.Spec, role, err)
	}
	return token, nil
}

// labelDataNode puts DataLabel=true on the data node unless it has it, and
// refuses when another node has it.
func (s *Stack) labelDataNode(ctx context.Context, anchor, data Host, info Info) (bool, error) {
	if s.DryRun && info.Swarm.NodeID == "" {
		s.Print(anchor.Docker("node", "update", "--label-add", DataLabel+"=true", "<the node ID of "+data.Spec+">"))
		return true, nil
	}
	nodes, err := s.nodes(ctx, anchor.Docker)
	if err != nil {
		return false, err
	}
	add, err := DataLabelChange(nodes, info.Swarm.NodeID)
	if err != nil || !add {
		return false, err
	}
	return true, s.Run(ctx, anchor.Docker("node", "update", "--label-add", DataLabel+"=true", info.Swarm.NodeID))
}

// checkPulls has each node pull the first image the project builds, at
// VERSION, from REGISTRY: a node that cannot reach the registry (no route,
// no login, an insecure registry it does not trust) fails here, in one line,
// instead of in the deploy. An image not pushed yet still proves that the
// registry answered.
func (s *Stack) checkPulls(ctx context.Context, hosts []Host) error {
	site, err := s.Site(ctx)
	if err != nil {
		return err
	}
	image := ""
	for _, svc := range site.Services {
		if svc.Built && svc.Role != roles.Stateful {
			image = svc.Image
			break
		}
	}
	if image == "" {
		return nil
	}
	for _, h := range hosts {
		out, err := s.Tee(ctx, h.Docker("pull", "--quiet", image))
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return err
		}
		if notPushed(out) {
			s.Say("%s: the registry answered; %s is not there yet (./dtx docker:build docker:push)", h.Spec, image)
			continue
		}
		return fmt.Errorf("node %s cannot pull %s (%s): log it in to the registry (docker login), or trust it (insecure-registries), then run swarm:setup again", h.Spec, image, lastLine(out))
	}
	return nil
}

// notPushed tells whether a failed pull's output says the registry has no
// such image (it answered), as docker 20.10 to 28 word it.
func notPushed(out string) bool {
	o := strings.ToLower(out)
	return strings.Contains(o, "manifest unknown") || strings.Contains(o, "not found")
}

func lastLine(out string) string {
	l := lines(out)
	if len(l) == 0 {
		return "no output"
	}
	return l[len(l)-1]
}
