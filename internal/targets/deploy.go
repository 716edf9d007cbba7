package targets

import (
	"context"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/deploy"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// The stack prod:deploy, prod:status and prod:rollback act on, and whose
// VERSION version:set and version:bump edit.
const deployEnvironment = deploy.Environment

// Deploy deploys version (docker/.env.release's VERSION when empty) on the
// release stack without dropping a request: see internal/deploy.
func Deploy(ctx context.Context, o *session.Session, version string, wait time.Duration) error {
	s, err := o.Open(deployEnvironment)
	if err != nil {
		return err
	}
	return deploy.Deploy(ctx, s, version, wait)
}

// Rollback deploys the version that ran before the current one, the same
// way, and with data puts back the data of the deploy it undoes (force:
// even when writes happened since).
func Rollback(ctx context.Context, o *session.Session, wait time.Duration, data, force bool) error {
	s, err := o.Open(deployEnvironment)
	if err != nil {
		return err
	}
	return deploy.Rollback(ctx, s, deploy.RollbackOptions{Wait: wait, Data: data, Force: force})
}

// Status prints the version and health of each service of the release
// stack, and the last deploys.
func Status(ctx context.Context, o *session.Session) error {
	s, err := o.Open(deployEnvironment)
	if err != nil {
		return err
	}
	return deploy.Status(ctx, s)
}

// orNone names a version, "(nothing runs)" when there is none, as the
// deploys do.
func orNone(v string) string { return deploy.OrNone(v) }
