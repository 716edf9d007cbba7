//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Version reads and moves VERSION in docker/.env.release, and tags releases.
type Version mg.Namespace

// Show prints VERSION (docker/.env.release, and the value that wins if .local or the process sets another) and whether vVERSION is tagged.
func (Version) Show(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.VersionShow(ctx, s) })
}

// Set writes VERSION=X.Y.Z into docker/.env.release, every other line kept.
//
// X.Y.Z: MAJOR.MINOR.PATCH, optionally with a pre-release (1.2.3-rc.1); no
// leading v, no +build. Commits nothing. DRY_RUN=1 prints the change.
func (Version) Set(ctx context.Context, version string) error {
	return do(func(s *session.Session) error { return targets.VersionSet(ctx, s, version) })
}

// Bump raises VERSION in docker/.env.release: version:bump major, minor or patch.
//
// The parts after the one raised become 0 and a pre-release is dropped
// (1.2.3 bump minor is 1.3.0). Commits nothing. DRY_RUN=1 prints the change.
func (Version) Bump(ctx context.Context, part string) error {
	return do(func(s *session.Session) error { return targets.VersionBump(ctx, s, part) })
}

// Tag tags HEAD vVERSION (annotated) on a clean work tree; -push pushes the tag to origin.
//
// It refuses uncommitted changes and a tag that exists; it never commits
// and never moves a tag. Pushing a v* tag makes CI build and push the
// images. DRY_RUN=1 prints the git commands.
func (Version) Tag(ctx context.Context, push *bool) error {
	return do(func(s *session.Session) error { return targets.VersionTag(ctx, s, push != nil && *push) })
}
