package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// CleanupBound is how long the cleanup of an interrupted or failed deploy
// may take (removing new containers, starting a stop-first worker's old
// one again, moving the proxy back): it runs on a context of its own, so
// that Ctrl-C, which ended the deploy's, cannot refuse it.
const CleanupBound = 2 * time.Minute

// errInterrupted ends a deploy's context on Ctrl-C or SIGTERM.
var errInterrupted = errors.New("interrupted")

// interruptible is ctx ended by the first Ctrl-C (SIGINT) or SIGTERM
// instead of mage's handler, which cancels the target's context and exits
// 5 s later, whatever the cleanup is doing: a cleanup cut short leaves new
// containers under the services' names, for the proxy's next reload to
// send requests to. A second signal only says the cleanup goes on. release
// stops listening; SIGINT then ends the process, as it would with no
// handler, for the few instants the target has left. A dry run changes
// nothing to clean up and keeps mage's handler.
func (d *deployer) interruptible(ctx context.Context) (context.Context, func()) {
	if d.DryRun {
		return ctx, func() {}
	}
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		for n := 1; ; n++ {
			select {
			case s := <-sigs:
				if n == 1 {
					d.Say("%v: stopping the deploy; its cleanup runs (%s at most), then it ends", s, CleanupBound)
					cancel(fmt.Errorf("%w by %v", errInterrupted, s))
				} else {
					d.Say("%v: the cleanup is still running (%s at most); kill -9 would leave an interrupted deploy for the next prod:deploy to finish", s, CleanupBound)
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// cleanupContext is the context a cleanup runs on: ctx's values without
// its end, for CleanupBound at most.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), CleanupBound)
}

// interruption says why ctx ended, when a signal ended it.
func interruption(ctx context.Context) error {
	if err := context.Cause(ctx); errors.Is(err, errInterrupted) {
		return err
	}
	return nil
}
