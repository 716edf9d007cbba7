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

// Exec runs a command in a service of an environment's stack.
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
