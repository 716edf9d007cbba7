package targets

import (
	"context"

	"github.com/kettleofketchup/dtx_website/internal/images"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Build builds the images named in only (all when empty), tagged VERSION
// and latest.
func Build(ctx context.Context, o *session.Session, only string) error {
	s, p, err := images.Open(ctx, o, only)
	if err != nil {
		return err
	}
	return images.Build(ctx, s, p)
}

// Push pushes both tags of the images named in only.
func Push(ctx context.Context, o *session.Session, only string) error {
	s, p, err := images.Open(ctx, o, only)
	if err != nil {
		return err
	}
	return images.Transfer(ctx, s, p.PushCommands())
}

// Pull pulls both tags of the images named in only.
func Pull(ctx context.Context, o *session.Session, only string) error {
	s, p, err := images.Open(ctx, o, only)
	if err != nil {
		return err
	}
	return images.Transfer(ctx, s, p.PullCommands())
}
