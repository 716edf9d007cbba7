package deploy

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Ctrl-C ends the deploy's context, with the signal as its cause, and
// not the process (mage would exit 5 s later, whatever the cleanup does);
// the cleanup's context is alive, bounded by CleanupBound.
func TestInterruptible(t *testing.T) {
	log := &lockedLog{}
	d := &deployer{Stack: &session.Stack{Session: session.New(session.Config{Stderr: log})}}
	ctx, release := d.interruptible(context.Background())
	defer release()
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-C did not end the deploy's context")
	}
	if err := interruption(ctx); err == nil || !errors.Is(err, errInterrupted) || !strings.Contains(err.Error(), "interrupt") {
		t.Errorf("cause %v", err)
	}
	cleanup, cancel := cleanupContext(ctx)
	defer cancel()
	if cleanup.Err() != nil {
		t.Fatalf("the cleanup's context ended with the deploy's: %v", cleanup.Err())
	}
	if deadline, ok := cleanup.Deadline(); !ok || time.Until(deadline) > CleanupBound {
		t.Errorf("the cleanup is unbounded: %v %v", deadline, ok)
	}
	// A second Ctrl-C only says the cleanup goes on.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "the cleanup is still running") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "stopping the deploy; its cleanup runs") || !strings.Contains(log.String(), "the cleanup is still running") {
		t.Errorf("said:\n%s", log.String())
	}
	if interruption(context.Background()) != nil {
		t.Error("a context no signal ended has an interruption")
	}
}

// lockedLog is a log the signal handler's goroutine writes while the
// test reads it.
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
