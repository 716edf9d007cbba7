package targets

import (
	"context"

	"github.com/kettleofketchup/dtx_website/internal/browsertest"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// E2E runs the website's browser tests against the test stack (see
// browsertest.Run), which it starts with the dev images built first, as
// dev:test does; opts are test:e2e's -shard, -grep and -spec.
func E2E(ctx context.Context, o *session.Session, opts browsertest.Options) error {
	s, err := o.Open(browsertest.Environment)
	if err != nil {
		return err
	}
	return browsertest.Run(ctx, s, opts, func(ctx context.Context) error { return up(ctx, s, Built, false) })
}
