//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Stack acts on the stack of one environment: debug, test, prod or release.
type Stack mg.Namespace

// Up starts an environment's stack from the images at hand, detached, waiting until healthy.
//
// ENV is debug, test, prod or release. Variables, from docker/.env.<env>
// (.env.dev for debug), its .local file, then the process: DOMAIN,
// PUBLISH_ADDRESS, HTTP_PORT, HTTPS_PORT, PUBLIC_HTTPS_PORT, REGISTRY,
// VERSION (release), REDIS_IMAGE; COMPOSE_PROJECT_PREFIX (project dtx-ENV),
// DOCKER_HOST, DRY_RUN=1.
func (Stack) Up(ctx context.Context, env string) error {
	return do(func(s *session.Session) error { return targets.Up(ctx, s, env, targets.Existing, false) })
}

// Down stops and removes an environment's containers and networks; data folders stay.
//
// ENV is debug, test, prod or release. Variables: COMPOSE_PROJECT_PREFIX
// (project dtx-ENV), those of docker/.env.<env>, DOCKER_HOST, DRY_RUN=1.
func (Stack) Down(ctx context.Context, env string) error {
	return do(func(s *session.Session) error { return targets.Down(ctx, s, env) })
}

// Logs follows an environment's logs until Ctrl-C.
//
// ENV is debug, test, prod or release. Variables: COMPOSE_PROJECT_PREFIX
// (project dtx-ENV), those of docker/.env.<env>, DOCKER_HOST, DRY_RUN=1.
func (Stack) Logs(ctx context.Context, env string) error {
	return do(func(s *session.Session) error { return targets.Logs(ctx, s, env) })
}

// Ps lists an environment's containers and their health.
//
// ENV is debug, test, prod or release. Variables: COMPOSE_PROJECT_PREFIX
// (project dtx-ENV), those of docker/.env.<env>, DOCKER_HOST, DRY_RUN=1.
func (Stack) Ps(ctx context.Context, env string) error {
	return do(func(s *session.Session) error { return targets.Ps(ctx, s, env) })
}

// Exec runs a command in a running service of an environment's stack.
//
// ENV is debug, test, prod or release; SERVICE one of its services
// (frontend, backend, redis, nginx); COMMAND one argument, split into words
// as a shell would (quotes and backslashes, no expansion):
//
//	./dtx stack:exec debug backend "python manage.py migrate"
//
// Variables: COMPOSE_PROJECT_PREFIX (project dtx-ENV), those of
// docker/.env.<env>, DOCKER_HOST, DRY_RUN=1.
func (Stack) Exec(ctx context.Context, env, service, command string) error {
	return do(func(s *session.Session) error { return targets.Exec(ctx, s, env, service, command) })
}

// Run runs a command in a one-off container of a service's image, removed afterwards (a migration, say).
//
// ENV is debug, test, prod or release; SERVICE one of its services; COMMAND
// one argument, split into words as a shell would. The services SERVICE
// depends on are started first, as docker compose run does:
//
//	./dtx stack:run prod backend "python manage.py migrate"
//
// Variables: COMPOSE_PROJECT_PREFIX (project dtx-ENV), those of
// docker/.env.<env>, DOCKER_HOST, DRY_RUN=1.
func (Stack) Run(ctx context.Context, env, service, command string) error {
	return do(func(s *session.Session) error { return targets.Run(ctx, s, env, service, command) })
}

// Restart restarts an environment's containers (-service=NAME: one service's).
//
// ENV is debug, test, prod or release. Variables: COMPOSE_PROJECT_PREFIX
// (project dtx-ENV), those of docker/.env.<env>, DOCKER_HOST, DRY_RUN=1.
func (Stack) Restart(ctx context.Context, env string, service *string) error {
	return do(func(s *session.Session) error { return targets.Restart(ctx, s, env, deref(service)) })
}

// Stop stops an environment's containers without removing them (-service=NAME: one service's).
//
// stack:up starts them again; stack:down removes them. ENV is debug, test,
// prod or release. Variables: COMPOSE_PROJECT_PREFIX (project dtx-ENV),
// those of docker/.env.<env>, DOCKER_HOST, DRY_RUN=1.
func (Stack) Stop(ctx context.Context, env string, service *string) error {
	return do(func(s *session.Session) error { return targets.Stop(ctx, s, env, deref(service)) })
}

// Pull pulls the images of an environment's services from their registries.
//
// ENV is debug, test, prod or release. Variables: REGISTRY, VERSION
// (release), COMPOSE_PROJECT_PREFIX (project dtx-ENV), those of
// docker/.env.<env>, DOCKER_HOST, DRY_RUN=1.
func (Stack) Pull(ctx context.Context, env string) error {
	return do(func(s *session.Session) error { return targets.StackPull(ctx, s, env) })
}

// Build builds the project images an environment's stack uses, tagged latest.
//
// ENV is debug, test, prod or release; the images are those the compose
// files build (docs/builds.md). Variables: REGISTRY, the base-image
// variables (*_BASE_IMAGE), CACHE_FROM=registry, those of
// docker/.env.<env>, DOCKER_HOST, DRY_RUN=1.
func (Stack) Build(ctx context.Context, env string) error {
	return do(func(s *session.Session) error { return targets.StackBuild(ctx, s, env) })
}

// Top lists the processes running in an environment's containers.
//
// ENV is debug, test, prod or release. Variables: COMPOSE_PROJECT_PREFIX
// (project dtx-ENV), those of docker/.env.<env>, DOCKER_HOST, DRY_RUN=1.
func (Stack) Top(ctx context.Context, env string) error {
	return do(func(s *session.Session) error { return targets.Top(ctx, s, env) })
}
