//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Docker builds, pushes and pulls the five images.
type Docker mg.Namespace

// Build builds the images in parallel, tagged VERSION and latest (-only=frontend,nginx for some).
func (Docker) Build(ctx context.Context, only *string) error {
	return do(func(o targets.Options) error { return targets.Build(ctx, o, deref(only)) })
}

// Push pushes both tags of each image to REGISTRY (-only=… for some).
func (Docker) Push(ctx context.Context, only *string) error {
	return do(func(o targets.Options) error { return targets.Push(ctx, o, deref(only)) })
}

// Pull pulls both tags of each image from REGISTRY (-only=… for some).
func (Docker) Pull(ctx context.Context, only *string) error {
	return do(func(o targets.Options) error { return targets.Pull(ctx, o, deref(only)) })
}
