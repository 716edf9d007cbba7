//go:build mage

// The build and deployment automation of the dtx website. Every target reads
// the working directory as the project root and DRY_RUN=1 for a dry run; the
// logic lives in internal/targets.
package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Check reports what the targets need: compose files, env files, Dockerfiles, docker and its engine.
func Check(ctx context.Context) error {
	return do(func(o targets.Options) error { return targets.Check(ctx, o) })
}

// do runs a target's logic with Options read from the process, masks the
// secrets in its error, and makes mage exit with the failed command's own
// status.
func do(fn func(targets.Options) error) error {
	o, err := targets.FromProcess()
	if err == nil {
		err = o.Do(fn)
	}
	if err != nil {
		return mg.Fatal(targets.ExitStatus(err), err)
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
