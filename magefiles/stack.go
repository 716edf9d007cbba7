//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Stack acts on the stack of one environment: debug, test, prod or release.
type Stack mg.Namespace

// Up starts an environment's stack from the images at hand, detached, waiting until healthy.
func (Stack) Up(ctx context.Context, env string) error {
	return do(func(o targets.Options) error { return targets.Up(ctx, o, env, targets.Existing, false) })
}

// Down stops and removes an environment's containers and networks; data folders stay.
func (Stack) Down(ctx context.Context, env string) error {
	return do(func(o targets.Options) error { return targets.Down(ctx, o, env) })
}

// Logs follows an environment's logs until Ctrl-C.
func (Stack) Logs(ctx context.Context, env string) error {
	return do(func(o targets.Options) error { return targets.Logs(ctx, o, env) })
}

// Ps lists an environment's containers and their health.
func (Stack) Ps(ctx context.Context, env string) error {
	return do(func(o targets.Options) error { return targets.Ps(ctx, o, env) })
}

// Exec runs a command in a service of an environment: stack:exec debug backend "python manage.py migrate".
func (Stack) Exec(ctx context.Context, env, service, command string) error {
	return do(func(o targets.Options) error { return targets.Exec(ctx, o, env, service, command) })
}
