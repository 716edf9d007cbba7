package deploy

import "strings"

// Health is what a new container's state says about it, read from docker
// inspect (HealthFormat).
type Health int

const (
	// Starting: it runs and its health check has not passed yet.
	Starting Health = iota
	// Healthy: it runs and its health check passed, or it runs and has
	// no health check (running is all it can say).
	Healthy
	// Unhealthy: it runs and its health check failed its retries.
	Unhealthy
	// Stopped: it left the running state (exited, dead, restarting…).
	Stopped
)

// ReadHealth reads docker inspect's output with HealthFormat.
func ReadHealth(out string) Health {
	status, health, _ := strings.Cut(strings.TrimSpace(out), " ")
	switch {
	case status != "running":
		return Stopped
	case health == "healthy" || health == "":
		return Healthy
	case health == "unhealthy":
		return Unhealthy
	}
	return Starting
}

// Settled tells whether the wait for a new container is over: it is
// healthy, or it stopped running. An unhealthy one that still runs is
// waited for until the deploy's -wait has passed, as a starting one is
// (a health check that passes again makes it healthy).
func (h Health) Settled() bool { return h == Healthy || h == Stopped }

// SameImage tells whether every running container runs the image whose ID
// is want, each given by the ID docker inspect says it runs; false when
// none runs or an ID is missing.
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
