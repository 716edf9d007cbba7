package browsertest

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// interruptible is ctx ended by the first Ctrl-C (SIGINT) or SIGTERM,
// instead of mage's handler, which cancels the target's context and exits
// 5 s later whatever the teardown is doing: on a busy machine removing the
// runner and taking the test stack down takes longer, and a teardown cut
// short leaves them running. A second signal only says the teardown goes on
// (teardownTimeout bounds it). release stops listening; SIGINT then ends
// the process, as with no handler, for the few instants the target has
// left. A dry run starts nothing to tear down and keeps mage's handler.
func interruptible(ctx context.Context, s *session.Stack) (context.Context, func()) {
	if s.DryRun {
		return ctx, func() {}
	}
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		for n := 1; ; n++ {
			select {
			case sig := <-sigs:
				if n == 1 {
					s.Say("%v: stopping the browser tests; the runner and the test stack are removed (%s at most), then test:e2e ends", sig, teardownTimeout)
					cancel()
				} else {
					s.Say("%v: the runner and the test stack are still being removed (%s at most)", sig, teardownTimeout)
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
