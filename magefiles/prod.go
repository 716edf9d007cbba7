//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Prod manages the production server's certificates.
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
	return do(func(o targets.Options) error { return targets.Certbot(ctx, o) })
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
	return do(func(o targets.Options) error { return targets.Renew(ctx, o) })
}
