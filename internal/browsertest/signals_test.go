package browsertest

import (
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Ctrl-C ends the run's context, not the process (mage would exit 5 s
// later, whatever the teardown does), and says the teardown runs; a second
// Ctrl-C only says it is still running.
func TestInterruptible(t *testing.T) {
	log := &lockedLog{}
	s := &session.Stack{Session: session.New(session.Config{Stderr: log})}
	ctx, release := interruptible(context.Background(), s)
	defer release()
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-C did not end the run's context")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "are still being removed") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{
		"interrupt: stopping the browser tests; the runner and the test stack are removed (2m0s at most), then test:e2e ends",
		"interrupt: the runner and the test stack are still being removed (2m0s at most)",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("did not say %q:\n%s", want, log.String())
		}
	}
}

// A dry run keeps mage's handler: it starts nothing to tear down.
func TestInterruptibleDryRun(t *testing.T) {
	s := &session.Stack{Session: session.New(session.Config{DryRun: true})}
	ctx := context.Background()
	got, release := interruptible(ctx, s)
	defer release()
	if got != ctx {
		t.Error("a dry run's context was replaced")
	}
}

// lockedLog is a log the signal handler's goroutine writes while the test
// reads it.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
