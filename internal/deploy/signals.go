package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// CleanupBound is how long the cleanup of an interrupted or failed deploy
// may take (removing new containers, starting a stop-first worker's old
// one again, moving the proxy back): it runs on a context of its own, so
// that Ctrl-C, which ended the deploy's, cannot refuse it.
const CleanupBound = 2 * time.Minute

// errInterrupted ends a deploy's context on Ctrl-C or SIGTERM.
var errInterrupted = session.ErrInterrupted

// interruptible is ctx ended by the first Ctrl-C or SIGTERM
// (session.Interruptible): a cleanup cut short by mage's handler would
// leave new containers under the services' names, for the proxy's next
// reload to send requests to.
func (d *deployer) interruptible(ctx context.Context) (context.Context, func()) {
	return d.Interruptible(ctx,
		fmt.Sprintf("stopping the deploy; its cleanup runs (%s at most), then it ends", CleanupBound),
		fmt.Sprintf("the cleanup is still running (%s at most); kill -9 would leave an interrupted deploy for the next prod:deploy to finish", CleanupBound))
}

// cleanupContext is the context a cleanup runs on: ctx's values without
// its end, for CleanupBound at most.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), CleanupBound)
}

// interruption says why ctx ended, when a signal ended it.
func interruption(ctx context.Context) error { return session.Interruption(ctx) }
