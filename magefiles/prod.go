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

// Rollback deploys the version deployed before the running one (from .dtx/deploys.jsonl) the way prod:deploy does (-wait=2m, -data restores its data).
//
// It walks back through the history and never forward: a second rollback
// goes to the version before that one; failed and interrupted deploys
// count for nothing. -data then restores the backup the undone deploy
// took before it changed anything (its migrations undone with it); it is
// refused, with nothing touched, when that backup is missing or damaged,
// or when data was written since that deploy ended, unless -force. The
// variables are prod:deploy's; DRY_RUN=1 prints the plan.
func (Prod) Rollback(ctx context.Context, wait *time.Duration, data, force *bool) error {
	return do(func(s *session.Session) error {
		return targets.Rollback(ctx, s, derefDuration(wait), data != nil && *data, force != nil && *force)
	})
}

// Backup takes a consistent backup of the site's data into .dtx/backups: redis, the SQLite file, the certificates, the deploy history.
//
// Redis is taken through redis itself (a point-in-time RDB), an SQLite
// file through SQLite's online backup (or with its writers paused), other
// data with its writers paused; the compose files declare what is data
// (x-dtx.data). A backup is complete or absent, mode 0700/0600, with a
// manifest (the version running, the time, each part's size and SHA-256);
// the last BACKUP_KEEP (10) are kept. Takes the release stack's lock.
//
// Variables, from docker/.env.release (docker/.env.prod with STACK=prod),
// its .local file, then the process:
//
//	BACKUP_KEEP        how many backups to keep (default 10)
//	BACKUP_TO          a copy of each backup: an absolute folder, or ssh://[USER@]HOST[:PORT]/FOLDER
//	BACKUP_SSH_CONFIG  an ssh configuration file for BACKUP_TO (ssh -F)
//	BACKUP_SQLITE      online (default) or pause
//	STACK              release (default) or prod
//
// Also DOCKER_HOST and DRY_RUN=1. The exit status is non-zero when no
// backup was kept, or its copy to BACKUP_TO failed: a cron job can tell.
func (Prod) Backup(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.Backup(ctx, s) })
}

// Restore puts a backup back (-name=NAME, the latest by default), stopping the services that write the data meanwhile.
//
// It checks the backup's manifest and every part first, and refuses one
// taken with another version than the one running unless -force; then it
// stops the services that write the data, puts it back, starts them and
// waits until healthy. The certificates and the deploy history are put
// back only where the server has none. A backup that is not in
// .dtx/backups is fetched from BACKUP_TO. Takes the release stack's lock.
//
// Variables: prod:backup's; DOCKER_HOST, DRY_RUN=1.
func (Prod) Restore(ctx context.Context, name *string, force *bool) error {
	return do(func(s *session.Session) error {
		return targets.Restore(ctx, s, deref(name), force != nil && *force)
	})
}

// Backups lists the backups (name, time, version, size, reason) and the copies in BACKUP_TO.
//
// Variables: prod:backup's; DOCKER_HOST.
func (Prod) Backups(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.Backups(ctx, s) })
}
