package session

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// Watch hands over each line as it comes, says when the command ended by
// itself, and stop ends one that streams on; a dry run runs it too (a
// read-only probe).
func TestWatch(t *testing.T) {
	s := New(Config{DryRun: true})
	var mu sync.Mutex
	var lines []string
	got := make(chan struct{}, 10)
	line := func(l string) {
		mu.Lock()
		lines = append(lines, l)
		mu.Unlock()
		got <- struct{}{}
	}
	stop, ended := s.Watch(context.Background(), runner.Command{Name: "sh", Args: []string{"-c", "echo one; echo two; exec sleep 60"}}, line)
	for range 2 {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("no line while the command streams")
		}
	}
	select {
	case <-ended:
		t.Fatal("ended while the command streams")
	default:
	}
	start := time.Now()
	stop()
	if took := time.Since(start); took > runner.DefaultGrace {
		t.Errorf("stop took %s", took)
	}
	<-ended
	mu.Lock()
	if !slices.Equal(lines, []string{"one", "two"}) {
		t.Errorf("lines %q", lines)
	}
	mu.Unlock()

	stop, ended = s.Watch(context.Background(), runner.Command{Name: "sh", Args: []string{"-c", "echo done"}}, func(string) {})
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("a command that ended is not said to")
	}
	stop()
}
