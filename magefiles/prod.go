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
// Every image is pulled first; PRE_DEPLOY (e.g. "python manage.py migrate")
// runs once in a one-off container of the new backend; then frontend and
// backend are replaced beside the old containers, nginx moving to the new
// ones once healthy and the old ones draining; nginx itself is recreated
// only when its image changed. A new container not healthy within -wait
// (default 2m) is removed and the old version keeps serving. Each deploy
// is recorded in .dtx/deploys.jsonl.
//
// Variables, from docker/.env.release, its .local file, then the process:
// VERSION, REGISTRY, PRE_DEPLOY, and those of the release stack; DOCKER_HOST,
// DRY_RUN=1.
func (Prod) Deploy(ctx context.Context, version *string, wait *time.Duration) error {
	return do(func(s *session.Session) error { return targets.Deploy(ctx, s, deref(version), derefDuration(wait)) })
}

// Status prints the version and health of each service of the release stack, and the last deploys.
//
// Reads docker/.env.release (with its .local file and the process) for the
// project's name: COMPOSE_PROJECT_PREFIX; also DOCKER_HOST.
func (Prod) Status(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.Status(ctx, s) })
}

// Rollback deploys the previous good version (from .dtx/deploys.jsonl) the way prod:deploy does (-wait=2m).
//
// The variables are prod:deploy's; DRY_RUN=1 prints the plan.
func (Prod) Rollback(ctx context.Context, wait *time.Duration) error {
	return do(func(s *session.Session) error { return targets.Rollback(ctx, s, derefDuration(wait)) })
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
