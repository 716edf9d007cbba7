//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Swarm deploys the release stack to Docker Swarm, locally or through DOCKER_HOST=ssh://….
type Swarm mg.Namespace

// Deploy deploys the release stack at VERSION to the swarm and waits until it converged or rolled back.
//
// The stack file is derived from docker-compose.release.yaml and the roles
// of its services (x-dtx); the variables that hold a secret become Swarm
// secrets (KEY_FILE=/run/secrets/KEY) of the services that name or declare
// them, named by a keyed hash (.dtx/swarm-names.key), the proxy's mounted
// files configs, the certificate and key secrets. One node must carry the
// label dtx.data=true when the stack has stateful services. Exits non-zero
// with Swarm's reason when an update rolled back, after rolling back every
// other service; once every service converged, removes the secrets and
// configs no service nor rollback uses.
//
// Variables, from docker/.env.release, its .local file, then the process:
// VERSION, REGISTRY, DOMAIN, HTTP_PORT, HTTPS_PORT; COMPOSE_PROJECT_PREFIX
// (the stack's name, dtx); DTX_SWARM_NAMES_KEY (the key that names the
// secrets, over .dtx/swarm-names.key); DOCKER_HOST (ssh://user@host for a
// remote manager) or DOCKER_CONTEXT; DRY_RUN=1 prints the stack file and
// commands.
func (Swarm) Deploy(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.SwarmDeploy(ctx, s) })
}

// Ps lists the stack's services (version, update state, image) and their tasks.
//
// Variables: COMPOSE_PROJECT_PREFIX (the stack's name), DOCKER_HOST or
// DOCKER_CONTEXT, DRY_RUN=1.
func (Swarm) Ps(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.SwarmPs(ctx, s) })
}

// Rollback rolls every service of the stack back to its previous spec and waits.
//
// Variables: COMPOSE_PROJECT_PREFIX (the stack's name), DOCKER_HOST or
// DOCKER_CONTEXT, DRY_RUN=1.
func (Swarm) Rollback(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.SwarmRollback(ctx, s) })
}

// Rm removes the stack and waits until its services are gone; volumes stay.
//
// Variables: COMPOSE_PROJECT_PREFIX (the stack's name), DOCKER_HOST or
// DOCKER_CONTEXT, DRY_RUN=1.
func (Swarm) Rm(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.SwarmRm(ctx, s) })
}

// Setup brings the nodes of SWARM_MANAGERS and SWARM_WORKERS into one swarm, labels the data node and checks their registry pulls.
//
// The nodes are docker hosts (ssh://user@host, tcp://host:2376,
// unix:///path) or docker context names, comma separated. The first
// manager inits the swarm when no listed manager manages one (advertising
// SWARM_ADVERTISE, else the address its host names); the others join with
// the tokens read from it, never printed. A node in another swarm is
// refused. SWARM_DATA_NODE (a listed host; the first manager by default)
// gets the label dtx.data=true, unless another node has it. Each node then
// pulls an image of VERSION from REGISTRY. A second run changes nothing
// and says so. DRY_RUN=1 prints the commands.
func (Swarm) Setup(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.SwarmSetup(ctx, s) })
}

// Nodes lists the swarm's nodes: role, availability, status, address, engine version and labels.
//
// Variables: DOCKER_HOST or DOCKER_CONTEXT (a manager).
func (Swarm) Nodes(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.SwarmNodes(ctx, s) })
}

// Drain moves the tasks off NODE and waits until the stack converged without it; -force for the data node.
//
// NODE is a node's ID (or its start), hostname or address (swarm:nodes).
// The node labelled dtx.data=true is refused unless -force: its stateful
// services' data does not move, so they stop until swarm:activate.
// Variables: COMPOSE_PROJECT_PREFIX, DOCKER_HOST or DOCKER_CONTEXT,
// DRY_RUN=1.
func (Swarm) Drain(ctx context.Context, node string, force *bool) error {
	return do(func(s *session.Session) error { return targets.SwarmDrain(ctx, s, node, force != nil && *force) })
}

// Activate makes NODE active again and waits until the stack's services converged.
//
// Variables: COMPOSE_PROJECT_PREFIX, DOCKER_HOST or DOCKER_CONTEXT,
// DRY_RUN=1.
func (Swarm) Activate(ctx context.Context, node string) error {
	return do(func(s *session.Session) error { return targets.SwarmActivate(ctx, s, node) })
}

// init runs the tool as certbot's manual hook when certbot calls it so
// (prod:certbot STACK=swarm): before mage parses anything.
func init() {
	if len(os.Args) != 3 || os.Args[1] != targets.ACMEHookFlag {
		return
	}
	err := do(func(s *session.Session) error { return targets.SwarmACMEHook(context.Background(), s, os.Args[2]) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
