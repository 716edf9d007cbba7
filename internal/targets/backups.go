package targets

import (
	"context"
	"fmt"

	"github.com/kettleofketchup/dtx_website/internal/backup"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// openData opens the stack whose data the backups take: STACK, the
// release stack (the one prod:deploy deploys) by default.
func openData(o *session.Session) (*session.Stack, error) {
	name, _ := o.Lookup("STACK")
	switch name {
	case "":
		name = deployEnvironment
	case "prod", "release":
	default:
		return nil, fmt.Errorf("STACK=%q: the backups are of the release stack (the default) or the prod stack; use STACK=release or STACK=prod", name)
	}
	return o.Open(name)
}

// Backup takes a backup of the stack's data: see internal/backup.
func Backup(ctx context.Context, o *session.Session) error {
	s, err := openData(o)
	if err != nil {
		return err
	}
	return backup.RunBackup(ctx, s)
}

// Restore puts backup name (the latest when empty) back; force restores
// one taken with another version, or holding data the stack no longer
// declares.
func Restore(ctx context.Context, o *session.Session, name string, force bool) error {
	s, err := openData(o)
	if err != nil {
		return err
	}
	return backup.RunRestore(ctx, s, name, force)
}

// Backups lists the backups and their copies off the server.
func Backups(ctx context.Context, o *session.Session) error {
	s, err := openData(o)
	if err != nil {
		return err
	}
	return backup.PrintList(ctx, s)
}
