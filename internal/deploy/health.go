package deploy

import (
	"strconv"
	"strings"
	"time"
)

// HealthFormat is docker inspect's template for what the wait for a new
// container decides by: its state, how often Docker restarted it, when it
// started and its health ("running 0 2026-12-06T23:42:19.40Z healthy";
// nothing after the time without a health check). See ReadState.
const HealthFormat = "{{.State.Status}} {{.RestartCount}} {{.State.StartedAt}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"

// State is a new container's state, read from docker inspect (HealthFormat).
type State struct {
	Status   string // running, exited, restarting, created…
	Restarts int    // how often Docker restarted it (it exited that often)
	Started  time.Time
	Health   string // healthy, starting, unhealthy; "" without a health check
}

// ReadState reads docker inspect's output with HealthFormat.
func ReadState(out string) State {
	f := strings.Fields(out)
	var s State
	if len(f) > 0 {
		s.Status = f[0]
	}
	if len(f) > 1 {
		s.Restarts, _ = strconv.Atoi(f[1])
	}
	if len(f) > 2 {
		s.Started, _ = time.Parse(time.RFC3339Nano, f[2])
	}
	if len(f) > 3 {
		s.Health = f[3]
	}
	return s
}

// Verdict is what the wait makes of a new container.
type Verdict int

const (
	// Waiting: it runs and has not proved itself yet.
	Waiting Verdict = iota
	// Ready: its health check passed, or, without one, it kept running
	// for Settle.
	Ready
	// Down: Docker says it is unhealthy, it stopped, or it exited and
	// was restarted: waiting longer cannot make it good.
	Down
)

// Settle is how long a new container without a health check must keep
// running before it counts as up: a worker whose command fails exits
// within it.
const Settle = 3 * time.Second

// Judge decides on s at now; while Waiting for a container without a
// health check, next is how long until its Settle has passed.
func (s State) Judge(now time.Time) (v Verdict, next time.Duration) {
	switch {
	case s.Status != "running" || s.Restarts > 0:
		return Down, 0
	case s.Health == "healthy":
		return Ready, 0
	case s.Health == "unhealthy":
		return Down, 0
	case s.Health != "":
		return Waiting, 0
	}
	if left := Settle - now.Sub(s.Started); left > 0 {
		return Waiting, left
	}
	return Ready, 0
}

// String says the state in a few words, for messages.
func (s State) String() string {
	var words []string
	switch {
	case s.Status == "":
		return "gone"
	case s.Health != "" && s.Status == "running":
		words = append(words, s.Health)
	default:
		words = append(words, s.Status)
	}
	switch {
	case s.Restarts == 1:
		words = append(words, "(it exited and Docker restarted it)")
	case s.Restarts > 1:
		words = append(words, "(it exited and Docker restarted it "+strconv.Itoa(s.Restarts)+" times)")
	}
	return strings.Join(words, " ")
}

// SameImage tells whether every running container runs the image whose ID
// is want, each given by the ID of its image; false when none runs or an
// ID is missing.
func SameImage(want string, running []string) bool {
	want = strings.TrimSpace(want)
	if want == "" || len(running) == 0 {
		return false
	}
	for _, got := range running {
		if strings.TrimSpace(got) != want {
			return false
		}
	}
	return true
}
