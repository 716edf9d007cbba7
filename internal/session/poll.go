package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Wait describes one wait: what it waits for (for messages), how often it
// looks and for how long at most.
type Wait struct {
	What    string        // "nginx serves the new certificate"
	Every   time.Duration // between two checks; 0 is DefaultEvery
	Timeout time.Duration // 0 waits until the context ends
}

// DefaultEvery is how often a wait looks unless it says otherwise.
const DefaultEvery = time.Second

// ErrTimeout is returned (wrapped, with the last check's error) when a wait
// ran out of time.
var ErrTimeout = errors.New("timed out")

// Poll calls check until it says done, returns an error, the timeout
// passes or the context ends: the one wait loop of the tool, on the
// context and the session's clock. check runs at once, then every w.Every.
// On a timeout the error wraps ErrTimeout and the last error check gave
// with done false (its reason to go on waiting), if any. In a dry run the
// wait is announced and skipped.
func (s *Session) Poll(ctx context.Context, w Wait, check func(ctx context.Context) (done bool, err error)) error {
	if s.DryRun {
		s.Say("[dry-run] wait until %s", w.What)
		return nil
	}
	return poll(ctx, s.clock(), w, check)
}

func poll(ctx context.Context, clock Clock, w Wait, check func(ctx context.Context) (bool, error)) error {
	every := w.Every
	if every <= 0 {
		every = DefaultEvery
	}
	var deadline time.Time
	if w.Timeout > 0 {
		deadline = clock.Now().Add(w.Timeout)
	}
	var last error
	for {
		done, err := check(ctx)
		switch {
		case done && err == nil:
			return nil
		case done:
			return err
		case err != nil:
			last = err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !deadline.IsZero() && !clock.Now().Before(deadline) {
			if last != nil {
				return fmt.Errorf("%w after %s waiting until %s: %w", ErrTimeout, w.Timeout, w.What, last)
			}
			return fmt.Errorf("%w after %s waiting until %s", ErrTimeout, w.Timeout, w.What)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-clock.After(every):
		}
	}
}
