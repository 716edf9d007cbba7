//go:build mage

package main

import (
	"context"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Prod deploys the release stack on the production server and manages its certificates.
type Prod mg.Namespace

// Certbot gets the Let's Encrypt certificate for DOMAIN and www.DOMAIN, then reloads nginx.
//
// It does nothing while the current certificate covers both names and has
// more than 30 days left. nginx must be running in the stack: it serves the
// ACME challenge.
//
// Variables, from docker/.env.prod (docker/.env.release with STACK=release),
// its .local file, then the process:
//
//	DOMAIN          the site's name (required)
//	CERTBOT_EMAIL   the account's e-mail (none: registers without one)
//	FORCE=1         re-issue even when the certificate is still valid
//	STAGING=1       Let's Encrypt's staging server
//	ACME_SERVER     another ACME server's directory URL
//	STACK           prod (default), release, or swarm (the swarm stack: see swarm:deploy)
//	HTTPS_PORT      where the new certificate is checked (default 443)
//
// Also DOCKER_HOST and DRY_RUN=1.
func (Prod) Certbot(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.Certbot(ctx, s) })
}

// Renew renews the certificates that are due and reloads nginx only if one was renewed.
//
// Run it twice a day (cron or a systemd timer); certbot renews a
// certificate 30 days before it expires.
//
// Variables, from docker/.env.prod (docker/.env.release with STACK=release),
// its .local file, then the process: STACK (prod or release), DOMAIN,
// HTTPS_PORT; DOCKER_HOST, DRY_RUN=1.
func (Prod) Renew(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.Renew(ctx, s) })
}

// Deploy deploys a version of the release stack without dropping a request (-version=X.Y.Z, -wait=2m).
//
// The version is VERSION of docker/.env.release unless -version names one.
// Every service of docker-compose.release.yaml on an image the project
// builds moves to it, by its role: routed services (the proxy's upstreams)
// start beside the old containers and the proxy moves to them once they
// are up; workers are replaced start-first, or stop-first when they declare
// x-dtx: {update: stop-first} (a scheduler); the proxy is recreated only
// when its image changed; stateful services are left alone. Every image is
// pulled first; PRE_DEPLOY (e.g. "python manage.py migrate") runs once in a
// one-off container of the new image of the service that declares
// x-dtx: {pre-deploy: true} (by default the routed service on the data).
// All or nothing: a new container that Docker says is unhealthy, that
// stops, or that is not up within -wait (default 2m) takes every new
// container away, and the old version keeps serving.
//
// It holds .dtx/lock (a second deploy, rollback, certbot or renew is
// refused, naming the holder), writes an in-progress record into
// .dtx/deploys.jsonl (mode 0600) before its first change, and finishes or
// undoes a deploy that a kill -9 or a reboot interrupted. Ctrl-C runs the
// cleanup to its end. Each step prints "step NAME: …" as it starts, and
// the deploy ends with its timeline, "timeline STEP SECONDS" a step.
//
// Variables, from docker/.env.release, its .local file, then the process:
// VERSION, REGISTRY, PRE_DEPLOY, and those of the release stack; DOCKER_HOST,
// DRY_RUN=1 (prints the plan, changes nothing, takes no lock).
func (Prod) Deploy(ctx context.Context, version *string, wait *time.Duration) error {
	return do(func(s *session.Session) error { return targets.Deploy(ctx, s, deref(version), derefDuration(wait)) })
}

// Status prints what the release stack runs, every service's version, health and image, and the last deploys.
//
// The version is judged over every service on a project image ("mixed
// (1.0.0: nginx; 1.1.0: backend)" says which runs what). It also says
// which deploy holds .dtx/lock now, and a deploy a kill -9 or a reboot
// interrupted, with the prod:deploy that finishes or undoes it. Reads
// docker/.env.release (with its .local file and the process) for the
// project's name: COMPOSE_PROJECT_PREFIX; also DOCKER_HOST.
func (Prod) Status(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.Status(ctx, s) })
}

// Rollback deploys the version deployed before the running one (from .dtx/deploys.jsonl) the way prod:deploy does (-wait=2m).
//
// It walks back through the history and never forward: a second rollback
// goes to the version before that one; failed and interrupted deploys
// count for nothing. The variables are prod:deploy's; DRY_RUN=1 prints the
// plan.
func (Prod) Rollback(ctx context.Context, wait *time.Duration) error {
	return do(func(s *session.Session) error { return targets.Rollback(ctx, s, derefDuration(wait)) })
}
