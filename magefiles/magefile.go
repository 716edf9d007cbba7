//go:build mage

// Build, run and deploy the dtx website: a docker compose stack (frontend,
// backend, redis, nginx) in four environments, debug, test, prod and release.
//
// Run from the project's root: ./dtx TARGET [ARGS]. ./dtx -h TARGET tells
// what a target does, the values it accepts and the variables it reads.
// DRY_RUN=1 before any target prints its commands and runs none.
package main

import (
	"context"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// mage:multiline keeps the line breaks of these comments in -h.

// Check checks docker, its compose plugin, the engine and each env file, compose file and Dockerfile.
//
// Each check prints one ok or FAIL line; the exit status is non-zero when
// something a target needs is missing. It loads every compose file with its
// env files (docker/.env.<env>, then docker/.env.<env>.local, then the
// process environment) and checks that frontend/Dockerfile and
// backend/Dockerfile have the stages runtime and runtime-dev.
//
// Variables: DOCKER_HOST (the engine), COMPOSE_PROJECT_PREFIX, and those of
// the env files.
func Check(ctx context.Context) error {
	return do(func(s *session.Session) error { return targets.Check(ctx, s) })
}

// do runs a target's logic in a session read from the process and masks the
// secrets in its error; mage exits with the status of the command that
// failed (mg.ExitStatus finds it through wrapping), else 1.
func do(fn func(*session.Session) error) error {
	c, err := session.FromProcess()
	if err == nil {
		err = session.New(c).Do(fn)
	}
	if err != nil {
		return mg.Fatal(mg.ExitStatus(err), err)
	}
	return nil
}

func derefDuration(d *time.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return *d
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
