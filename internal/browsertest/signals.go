package browsertest

import (
	"context"
	"fmt"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// interruptible is ctx ended by the first Ctrl-C or SIGTERM
// (session.Interruptible): on a busy machine removing the runner and
// taking the test stack down takes longer than mage's 5 s, and a teardown
// cut short leaves them running (teardownTimeout bounds it).
func interruptible(ctx context.Context, s *session.Stack) (context.Context, func()) {
	return s.Interruptible(ctx,
		fmt.Sprintf("stopping the browser tests; the runner and the test stack are removed (%s at most), then test:e2e ends", teardownTimeout),
		fmt.Sprintf("the runner and the test stack are still being removed (%s at most)", teardownTimeout))
}
