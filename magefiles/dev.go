//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Dev starts the stacks on a developer's machine.
type Dev mg.Namespace

// Debug builds the dev images and runs the debug stack attached, source mounted for hot reload; Ctrl-C stops it.
func (Dev) Debug(ctx context.Context) error {
	return do(func(o targets.Options) error { return targets.Up(ctx, o, "debug", targets.Built, true) })
}

// Test builds the dev images and starts the test stack on its own test-network, waiting until healthy.
func (Dev) Test(ctx context.Context) error {
	return do(func(o targets.Options) error { return targets.Up(ctx, o, "test", targets.Built, false) })
}

// Prod builds the production images and starts the prod stack locally, waiting until healthy.
func (Dev) Prod(ctx context.Context) error {
	return do(func(o targets.Options) error { return targets.Up(ctx, o, "prod", targets.Built, false) })
}

// Release pulls the VERSION images and starts the release stack detached, waiting until healthy.
func (Dev) Release(ctx context.Context) error {
	return do(func(o targets.Options) error { return targets.Up(ctx, o, "release", targets.Pulled, false) })
}
