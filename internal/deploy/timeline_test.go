package deploy

import (
	"reflect"
	"testing"
	"time"
)

// fakeClock advances by the test's hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestTimelineStepsAndSpans(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	tl := NewTimeline(c.now)
	tl.Step("pull")
	c.advance(2 * time.Second)
	// Two steps at once: each keeps its own duration.
	endPin := tl.Span("pin-old")
	endCreate := tl.Span("create")
	c.advance(300 * time.Millisecond)
	endPin()
	c.advance(700 * time.Millisecond)
	endCreate()
	tl.Step("pull") // a step that runs twice adds up
	c.advance(500 * time.Millisecond)
	got := tl.Lines()
	want := []string{
		"timeline pull 2.500s",
		"timeline pin-old 0.300s",
		"timeline create 1.000s",
		"timeline total 3.500s",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("timeline:\n got %q\nwant %q", got, want)
	}
}
