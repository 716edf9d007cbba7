//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Docker builds, pushes and pulls the images the compose files declare.
type Docker mg.Namespace

// Build builds the images in one BuildKit session, tagged VERSION and latest.
//
// The images are those the compose files declare: every service with a
// build section (context, dockerfile, target, args, additional_contexts…),
// named by its image under REGISTRY; ./dtx check lists them.
// -only=NAME[,NAME…] builds some of them (all by default).
//
// Variables, from docker/.env.release, docker/.env.release.local, then the
// process: VERSION (MAJOR.MINOR.PATCH), REGISTRY (default
// ghcr.io/kettleofketchup/dtx_website), the build sections' arguments (the
// starters' *_BASE_IMAGE), CACHE_FROM=registry (take the build cache from
// REGISTRY's latest images: for an empty builder, as in CI); DOCKER_HOST,
// DRY_RUN=1.
func (Docker) Build(ctx context.Context, only *string) error {
	return do(func(s *session.Session) error { return targets.Build(ctx, s, deref(only)) })
}

// Push pushes both tags (VERSION and latest) of each image to REGISTRY.
//
// -only=NAME[,NAME…] pushes some of them (all the images the compose files
// build by default; ./dtx check lists them).
//
// Variables, from docker/.env.release, docker/.env.release.local, then the
// process: VERSION, REGISTRY; DOCKER_HOST, DRY_RUN=1.
func (Docker) Push(ctx context.Context, only *string) error {
	return do(func(s *session.Session) error { return targets.Push(ctx, s, deref(only)) })
}

// Pull pulls both tags (VERSION and latest) of each image from REGISTRY.
//
// -only=NAME[,NAME…] pulls some of them (all the images the compose files
// build by default; ./dtx check lists them).
//
// Variables, from docker/.env.release, docker/.env.release.local, then the
// process: VERSION, REGISTRY; DOCKER_HOST, DRY_RUN=1.
func (Docker) Pull(ctx context.Context, only *string) error {
	return do(func(s *session.Session) error { return targets.Pull(ctx, s, deref(only)) })
}
