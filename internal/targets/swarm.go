package targets

import (
	"context"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/swarm"
)

// ACMEHookFlag is the first argument with which certbot runs the tool's own
// binary as its manual auth or cleanup hook (see SwarmACMEHook).
const ACMEHookFlag = swarm.HookFlag

// onSwarm opens the release environment as the swarm's stack and hands it to fn.
func onSwarm(o *session.Session, fn func(*swarm.Stack) error) error {
	s, err := swarm.Open(o)
	if err != nil {
		return err
	}
	return fn(s)
}

// SwarmDeploy deploys the release stack at VERSION to the swarm the docker
// CLI manages and waits until every service has converged or rolled back.
func SwarmDeploy(ctx context.Context, o *session.Session) error {
	return onSwarm(o, func(s *swarm.Stack) error { return s.Deploy(ctx) })
}

// SwarmPs lists the stack's services (version, image, replicas) and their tasks.
func SwarmPs(ctx context.Context, o *session.Session) error {
	return onSwarm(o, func(s *swarm.Stack) error { return s.Ps(ctx) })
}

// SwarmRollback rolls every service of the stack that has a previous spec
// back to it and waits until the rollbacks have ended.
func SwarmRollback(ctx context.Context, o *session.Session) error {
	return onSwarm(o, func(s *swarm.Stack) error { return s.Rollback(ctx) })
}

// SwarmRm removes the stack and waits until its services and networks are
// gone; its volumes stay.
func SwarmRm(ctx context.Context, o *session.Session) error {
	return onSwarm(o, func(s *swarm.Stack) error { return s.Rm(ctx) })
}

// SwarmSetup brings the nodes of SWARM_MANAGERS and SWARM_WORKERS into one
// swarm, labels the data node and checks that each can pull from REGISTRY.
func SwarmSetup(ctx context.Context, o *session.Session) error {
	return onSwarm(o, func(s *swarm.Stack) error { return s.Setup(ctx) })
}

// SwarmNodes lists the swarm's nodes, one line each.
func SwarmNodes(ctx context.Context, o *session.Session) error {
	return onSwarm(o, func(s *swarm.Stack) error { return s.Nodes(ctx) })
}

// SwarmDrain drains a node and waits until the stack converged without it.
func SwarmDrain(ctx context.Context, o *session.Session, node string, force bool) error {
	return onSwarm(o, func(s *swarm.Stack) error { return s.Drain(ctx, node, force) })
}

// SwarmActivate makes a node active again and waits until the stack converged.
func SwarmActivate(ctx context.Context, o *session.Session, node string) error {
	return onSwarm(o, func(s *swarm.Stack) error { return s.Activate(ctx, node) })
}

// SwarmCertbot is prod:certbot with STACK=swarm: the challenges go to
// every node of the proxy through the hook, the certificate to the proxy by
// a deploy.
func SwarmCertbot(ctx context.Context, o *session.Session) error {
	return onSwarm(o, func(s *swarm.Stack) error { return s.Certbot(ctx) })
}

// SwarmACMEHook is the tool run by certbot as its manual hook (phase auth
// or cleanup) for prod:certbot STACK=swarm.
func SwarmACMEHook(ctx context.Context, o *session.Session, phase string) error {
	return swarm.ACMEHook(ctx, o, phase)
}
