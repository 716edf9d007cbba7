//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Dev starts the stacks on a developer's machine.
type Dev mg.Namespace

// Debug builds the dev images and runs the debug stack attached; Ctrl-C stops it.
//
// ./frontend and ./backend are mounted into their containers, and the
// starters reload them: an edit is served without a rebuild. Ctrl-C stops
// the containers and exits 0; a second Ctrl-C forces. The images are those
// docker-compose.debug.yaml names (:latest), built first.
//
// Variables, from docker/.env.dev, docker/.env.dev.local, then the process:
// DOMAIN, PUBLISH_ADDRESS, HTTP_PORT, HTTPS_PORT, REGISTRY, REDIS_IMAGE, the
// base images of the build sections (FRONTEND_BASE_IMAGE,
// BACKEND_BASE_IMAGE, NGINX_BASE_IMAGE in the starters), CACHE_FROM;
// COMPOSE_PROJECT_PREFIX (project PREFIX-debug, dtx-debug by default),
// DOCKER_HOST, DRY_RUN=1.
func (Dev) Debug(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.Up(ctx, s, "debug", targets.Built, true) })
}

// Test builds the dev images and starts the test stack on its own test-network, waiting until healthy.
//
// Variables, from docker/.env.test, docker/.env.test.local, then the
// process: DOMAIN, PUBLISH_ADDRESS, HTTP_PORT (8080), HTTPS_PORT (8443),
// REGISTRY, REDIS_IMAGE, the base images of the build sections
// (FRONTEND_BASE_IMAGE, BACKEND_BASE_IMAGE, NGINX_BASE_IMAGE in the
// starters), CACHE_FROM; COMPOSE_PROJECT_PREFIX (project PREFIX-test,
// dtx-test by default), DOCKER_HOST, DRY_RUN=1.
func (Dev) Test(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.Up(ctx, s, "test", targets.Built, false) })
}

// Prod builds the production images and starts the prod stack locally, waiting until healthy.
//
// Variables, from docker/.env.prod, docker/.env.prod.local, then the
// process: DOMAIN, PUBLISH_ADDRESS, HTTP_PORT, HTTPS_PORT,
// PUBLIC_HTTPS_PORT, REGISTRY, REDIS_IMAGE, the base images of the build
// sections (FRONTEND_BASE_IMAGE, BACKEND_BASE_IMAGE, NGINX_BASE_IMAGE in
// the starters), CACHE_FROM; COMPOSE_PROJECT_PREFIX (project PREFIX-prod,
// dtx-prod by default), DOCKER_HOST, DRY_RUN=1.
func (Dev) Prod(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.Up(ctx, s, "prod", targets.Built, false) })
}

// Release pulls the VERSION images and starts the release stack detached, waiting until healthy.
//
// Variables, from docker/.env.release, docker/.env.release.local, then the
// process: VERSION (MAJOR.MINOR.PATCH, required), REGISTRY, DOMAIN,
// PUBLISH_ADDRESS, HTTP_PORT, HTTPS_PORT, PUBLIC_HTTPS_PORT, REDIS_IMAGE;
// COMPOSE_PROJECT_PREFIX (project PREFIX-release, dtx-release by default),
// DOCKER_HOST, DRY_RUN=1.
func (Dev) Release(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.Up(ctx, s, "release", targets.Pulled, false) })
}
