package swarm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// dockerOn makes a docker command for one engine: session.Docker (the
// engine of DOCKER_HOST or DOCKER_CONTEXT) or a Host's.
type dockerOn func(args ...string) runner.Command

// nodes reads the swarm's nodes from the manager docker reaches.
func (s *Stack) nodes(ctx context.Context, docker dockerOn) ([]Node, error) {
	ids, err := s.Query(ctx, docker("node", "ls", "-q"))
	if err != nil {
		return nil, s.Explain(ctx, docker("node", "ls", "-q"), err)
	}
	out, err := s.Query(ctx, docker(append([]string{"node", "inspect"}, strings.Fields(ids)...)...))
	if err != nil {
		return nil, err
	}
	return ParseNodes(out)
}

// showNodes prints swarm:nodes' table.
func (s *Stack) showNodes(ctx context.Context, docker dockerOn) error {
	nodes, err := s.nodes(ctx, docker)
	if err != nil {
		return err
	}
	for _, l := range NodeLines(nodes) {
		fmt.Fprintln(s.Stdout, l)
	}
	return nil
}

// Nodes lists the swarm's nodes: role, availability, status, address,
// engine version and labels, one line each.
func (s *Stack) Nodes(ctx context.Context) error {
	if err := s.requireSwarm(ctx); err != nil {
		return err
	}
	return s.showNodes(ctx, session.Docker)
}

// requireSwarm checks that the engine the CLI talks to manages a swarm
// (in a dry run too: the targets that read only run their reads).
func (s *Stack) requireSwarm(ctx context.Context) error {
	out, err := s.Query(ctx, infoCommand())
	if err != nil {
		return s.Explain(ctx, infoCommand(), err)
	}
	if strings.TrimSpace(out) != "active true" {
		return fmt.Errorf("the Docker engine at %s is not a swarm manager (swarm state: %s): point DOCKER_HOST or DOCKER_CONTEXT at a manager, or run ./dtx swarm:setup", s.DockerHost(), strings.TrimSpace(out))
	}
	return nil
}

// Drain sets a node's availability to drain, so that Swarm moves its
// tasks to the others, waits until the stack's services converged without
// it and says where their tasks run. The node that carries DataLabel is
// refused unless force: its stateful services' data stays on it, so they
// stop until the node is active again.
func (s *Stack) Drain(ctx context.Context, word string, force bool) error {
	return s.setAvailability(ctx, word, "drain", force)
}

// Activate sets a node's availability back to active and waits until the
// stack's services converged (the proxy, global, starts there again).
func (s *Stack) Activate(ctx context.Context, word string) error {
	return s.setAvailability(ctx, word, "active", false)
}

func (s *Stack) setAvailability(ctx context.Context, word, availability string, force bool) error {
	if strings.TrimSpace(word) == "" {
		return fmt.Errorf("name the node: ./dtx swarm:nodes lists them")
	}
	nodes, err := s.nodes(ctx, session.Docker)
	if err != nil && s.DryRun {
		// The manager does not answer: the command as it would run, on
		// the node as given.
		s.Print(session.Docker("node", "update", "--availability", availability, word))
		s.Say("[dry-run] wait until the services of %s have converged (the manager does not answer: which node is not known)", s.Name)
		return nil
	}
	if err != nil {
		return err
	}
	node, err := FindNode(nodes, word)
	if err != nil {
		return err
	}
	var skip []string
	if availability == "drain" && node.Labels[DataLabel] == "true" {
		if !force {
			return fmt.Errorf("node %s carries %s=true: the stateful services' data is in its volumes and does not move, so they would stop until ./dtx swarm:activate %s; add -force to drain it anyway", node.Name(), DataLabel, short(node.ID))
		}
		s.Say("note: %s keeps the data (%s=true): its stateful services stop until ./dtx swarm:activate %s", node.Name(), DataLabel, short(node.ID))
	}
	if node.Availability == availability {
		s.Say("%s is %s already", node.Name(), availability)
	}
	if err := s.Run(ctx, session.Docker("node", "update", "--availability", availability, node.ID)); err != nil {
		return err
	}
	away := ""
	if availability == "drain" {
		away = node.ID
	}
	what := "the services of " + s.Name + " have converged"
	if away != "" {
		what += " off " + node.Name()
	}
	var placed []Placed
	var waiting string
	err = s.Poll(ctx, session.Wait{What: what, Every: pollEvery, Timeout: Timeout}, func(ctx context.Context) (bool, error) {
		replicas, now, onData, err := s.placement(ctx)
		if err != nil {
			return true, err
		}
		placed = now
		if away != "" && node.Labels[DataLabel] == "true" {
			skip = onData
		}
		var done bool
		done, waiting = Settled(replicas, placed, away, skip)
		return done, nil
	})
	if errors.Is(err, session.ErrTimeout) {
		return fmt.Errorf("%s: not converged after %s (%s): see ./dtx swarm:ps", s.Name, Timeout, waiting)
	}
	if err != nil || s.DryRun {
		return err
	}
	if nodes, err = s.nodes(ctx, session.Docker); err != nil {
		return err
	}
	s.Say("%s is %s; the tasks of %s run on:", node.Name(), availability, s.Name)
	for _, l := range Whereabouts(s.Name, placed, nodes) {
		s.Say("    %s", l)
	}
	if len(skip) > 0 {
		s.Say("%s: stopped while %s is drained (their data is there)", strings.Join(skip, ", "), node.Name())
	}
	if availability == "active" {
		s.Say("Swarm does not move running tasks back by itself: the next ./dtx swarm:deploy of a new version spreads them again")
	}
	return nil
}

// placement reads the stack's replicas, its running tasks with their
// nodes, and the services bound to the data node.
func (s *Stack) placement(ctx context.Context) (map[string]string, []Placed, []string, error) {
	out, err := s.Query(ctx, s.replicasCommand())
	if err != nil {
		return nil, nil, nil, err
	}
	replicas := ParseReplicas(out, s.Name)
	ids, err := s.Query(ctx, s.serviceIDsCommand())
	if err != nil || len(strings.Fields(ids)) == 0 {
		return replicas, nil, nil, err
	}
	out, err = s.Query(ctx, session.Docker(append([]string{"service", "inspect", "--format", "{{.ID}}|{{.Spec.Name}}|{{json .Spec.TaskTemplate.Placement}}"}, strings.Fields(ids)...)...))
	if err != nil {
		return nil, nil, nil, err
	}
	names, onData := ServiceNames(out, s.Name)
	out, err = s.Query(ctx, session.Docker("stack", "ps", "--no-resolve", "--no-trunc", "--filter", "desired-state=running",
		"--format", "{{.ID}}|{{.Name}}|{{.Node}}|{{.CurrentState}}", s.Name))
	if err != nil {
		return nil, nil, nil, err
	}
	return replicas, ParsePlaced(out, names), onData, nil
}
