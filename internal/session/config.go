// Package session is the one executor of a target run. A Session holds the
// values read once from the process (Config), the one list of secrets, the
// runner every external command goes through, the clock, and the dry run,
// decided here and nowhere else: a command is printed and skipped, an action
// on files is described and skipped, a wait is announced and skipped. Every
// wait of the tool is Poll, on the context and the session's clock.
//
// Open gives a Session one environment's stack (its env files, compose
// project and loaded model). The domains (images, deploy, swarm, certbot,
// browsertest) plan their commands and run them through a Session; the
// targets are entry points that open one and hand it over.
package session

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Config is what a target run depends on from outside: plain values, read
// from the process once (FromProcess) or set by a test.
type Config struct {
	Root    string   // project root: compose files, docker/, nginx/
	Environ []string // the process environment, KEY=value
	DryRun  bool
	// Stdout receives the commands' output and summaries; Stderr the
	// printed commands and progress.
	Stdout, Stderr io.Writer
	// Clock is the time the run sees; nil is the real clock.
	Clock Clock
	// CacheDir is a folder of the tool's own where it keeps answers that
	// cost to compute, each under a key of everything it depends on ("":
	// keep none). FromProcess sets it to the folder of the tool binary the
	// launcher built (…/dtx-website/bin-<hash of the sources>), so that new
	// code starts with an empty one and the launcher's checks of the cache
	// folder (the user's own, not writable by others) cover it.
	CacheDir string
	// Timings is a file that gets a line for each command the run starts
	// (runner.Runner's Timings), appended; "" keeps none. FromProcess reads
	// it from DTX_TIMINGS.
	Timings string
}

// TimingsVar names a file where each command the tool runs is recorded
// with its wall time (see runner.Runner's Timings): where a call's time
// goes, and the benchmark's measure of the tool's own part.
const TimingsVar = "DTX_TIMINGS"

// FromProcess reads Config from the running process: the working
// directory, os.Environ and DRY_RUN.
func FromProcess() (Config, error) {
	root, err := os.Getwd()
	if err != nil {
		return Config{}, err
	}
	c := Config{Root: root, Environ: os.Environ(), Stdout: os.Stdout, Stderr: os.Stderr, CacheDir: launchedFrom(), Timings: os.Getenv(TimingsVar)}
	switch v := strings.TrimSpace(os.Getenv("DRY_RUN")); v {
	case "", "0", "false":
	case "1", "true":
		c.DryRun = true
	default:
		return c, fmt.Errorf("DRY_RUN=%q: use DRY_RUN=1 for a dry run, or unset it", v)
	}
	return c, nil
}

// launchedFrom is the folder of the running binary when the launcher
// built it (internal/launcher: CACHE/bin-<key>/dtx beside
// CACHE/dtx-launcher), else "".
func launchedFrom() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	dir := filepath.Dir(exe)
	if !strings.HasPrefix(filepath.Base(dir), "bin-") {
		return ""
	}
	if fi, err := os.Stat(filepath.Join(filepath.Dir(dir), "dtx-launcher")); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return dir
}

// Lookup reads a variable of Environ, the last setting winning.
func (c Config) Lookup(key string) (string, bool) {
	for i := len(c.Environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(c.Environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// Value is Lookup without the second result: "" when unset.
func (c Config) Value(key string) string {
	v, _ := c.Lookup(key)
	return v
}

// Prefix is COMPOSE_PROJECT_PREFIX, or stack.DefaultPrefix: it starts
// every compose project's name and is the Swarm stack's.
func (c Config) Prefix() string {
	if p := c.Value("COMPOSE_PROJECT_PREFIX"); p != "" {
		return p
	}
	return stack.DefaultPrefix
}

// defaultDockerHost is where docker looks when DOCKER_HOST is not set.
const defaultDockerHost = "unix:///var/run/docker.sock"

// DockerHost is the engine docker talks to, for messages.
func (c Config) DockerHost() string {
	if host := c.Value("DOCKER_HOST"); host != "" {
		return host
	}
	return defaultDockerHost
}

// LookPath finds an executable in Environ's PATH.
func (c Config) LookPath(name string) (string, bool) {
	for _, dir := range filepath.SplitList(c.Value("PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// Clock is the time a run sees: the real one, or a test's.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the machine's clock, the one a Config without Clock uses.
var RealClock Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (c Config) clock() Clock {
	if c.Clock != nil {
		return c.Clock
	}
	return realClock{}
}
