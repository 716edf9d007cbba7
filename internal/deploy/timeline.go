package deploy

import (
	"fmt"
	"sync"
	"time"
)

// Timeline is the steps of one deploy and how long each took, printed at
// its end (Lines), so that a slow deploy shows where its time went and the
// benchmark can report it.
type Timeline struct {
	mu    sync.Mutex // concurrent steps (Span) end from their goroutines
	now   func() time.Time
	start time.Time
	names []string // in the order they first started
	took  map[string]time.Duration
	cur   string
	since time.Time
}

// NewTimeline starts a timeline on the clock now.
func NewTimeline(now func() time.Time) *Timeline {
	return &Timeline{now: now, start: now(), took: map[string]time.Duration{}}
}

// Step ends the step under way and starts name. A step that runs twice
// adds up.
func (t *Timeline) Step(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.end()
	t.cur, t.since = name, t.now()
	t.register(name)
}

// Span ends the step under way and starts name beside other spans: steps
// that run at once each show their own duration (their sum is then more
// than the total). The function it returns ends it.
func (t *Timeline) Span(name string) (end func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.end()
	t.register(name)
	since := t.now()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.took[name] += t.now().Sub(since)
	}
}

func (t *Timeline) register(name string) {
	if _, ok := t.took[name]; !ok {
		t.names = append(t.names, name)
		t.took[name] = 0
	}
}

// End ends the step under way.
func (t *Timeline) End() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.end()
}

func (t *Timeline) end() {
	if t.cur != "" {
		t.took[t.cur] += t.now().Sub(t.since)
		t.cur = ""
	}
}

// TimelinePrefix starts every line of a timeline.
const TimelinePrefix = "timeline "

// Lines are the timeline as printed: one line a step, in order, then the
// total, each "timeline STEP SECONDS" with the seconds to the millisecond
// ("timeline pull 1.234s", "timeline total 13.301s"). The form is stable:
// the benchmark reads it.
func (t *Timeline) Lines() []string {
	t.End()
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := make([]string, 0, len(t.names)+1)
	for _, n := range t.names {
		lines = append(lines, fmt.Sprintf("%s%s %.3fs", TimelinePrefix, n, t.took[n].Seconds()))
	}
	return append(lines, fmt.Sprintf("%stotal %.3fs", TimelinePrefix, t.now().Sub(t.start).Seconds()))
}
