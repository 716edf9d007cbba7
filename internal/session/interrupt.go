package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// ErrInterrupted is the cause of a context Interruptible ended.
var ErrInterrupted = errors.New("interrupted")

// Interruptible is ctx ended by the first Ctrl-C (SIGINT) or SIGTERM, with
// ErrInterrupted as its cause, instead of mage's handler, which cancels
// the target's context and exits 5 s later whatever the target's cleanup
// is doing: a cleanup cut short leaves containers behind (a deploy's new
// ones, the browser tests' runner and stack). The first signal says
// first, a later one again: that the cleanup goes on. release stops
// listening; SIGINT then ends the process, as it would with no handler,
// for the few instants the target has left. A dry run starts nothing to
// clean up and keeps mage's handler.
func (s *Session) Interruptible(ctx context.Context, first, again string) (context.Context, func()) {
	if s.DryRun {
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
			case sig := <-sigs:
				if n == 1 {
					s.Say("%v: %s", sig, first)
					cancel(fmt.Errorf("%w by %v", ErrInterrupted, sig))
				} else {
					s.Say("%v: %s", sig, again)
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

// Interruption says why ctx ended, when a signal ended it (Interruptible).
func Interruption(ctx context.Context) error {
	if err := context.Cause(ctx); errors.Is(err, ErrInterrupted) {
		return err
	}
	return nil
}
