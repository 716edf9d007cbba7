package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// The benchmark of the backups, for bench/ (and the end-to-end test that
// runs it, TestBackupMeasure): backup and restore time against the data's
// size, and the pause a backup causes to writes.

// MeasureConfig is what Measure needs: a release stack that runs the
// starter backend (POST /api/notes, /api/data), reached through nginx by
// Client at Base, and a way to run ./dtx in its project.
type MeasureConfig struct {
	Sizes   []int64  // the data to fill up to, SQLite and redis together (bytes)
	Methods []string // BACKUP_SQLITE values to measure: online, pause
	Client  *http.Client
	Base    string // https://DOMAIN
	// Dtx runs ./dtx with args (and KEY=value pairs in env) in the
	// project, and returns its output.
	Dtx func(ctx context.Context, env []string, args ...string) (string, error)
}

// Measurement is one backup and its restore.
type Measurement struct {
	Method          string        // BACKUP_SQLITE
	Size            int64         // the backup's size
	Rows            int           // notes in the data
	Backup, Restore time.Duration // prod:backup, prod:restore, end to end
	Took            string        // the backup's own time, as it says it
	Paused          string        // how long it paused the writers, as it says it ("" when it paused none)
	// Writes during the backup and their latency, and without one just
	// before (the baseline), each: median and maximum.
	Writes, FailedWrites int
	P50, Max             time.Duration
	BaseP50, BaseMax     time.Duration
	Err                  string // why this one failed, in a line
}

// noteSize is the body of each note that fills the data; the backend
// keeps it twice (a row, a key).
const noteSize = 60 * 1000

// Measure fills the data up to each size in turn, then for each method
// times prod:backup while a writer posts small notes one after another
// (their latency is the pause the backup causes to writes), and the
// prod:restore of that backup.
func Measure(ctx context.Context, cfg MeasureConfig) ([]Measurement, error) {
	if len(cfg.Methods) == 0 {
		cfg.Methods = []string{SQLiteOnline}
	}
	var out []Measurement
	rows := 0
	for _, size := range cfg.Sizes {
		for ; int64(rows)*2*noteSize < size; rows++ {
			if err := post(ctx, cfg, noise(noteSize)); err != nil {
				return out, fmt.Errorf("filling the data: %w", err)
			}
		}
		for _, method := range cfg.Methods {
			m, err := measureOne(ctx, cfg, method)
			m.Rows = rows
			if err != nil {
				// Said in the table; the other methods and sizes go on.
				m.Err = strings.Join(strings.Fields(err.Error()), " ")
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// noise is n bytes of hex of random bytes: data that redis's RDB
// compression does not shrink, as real notes would not be.
func noise(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	takenLine  = `backup (\S+) taken in (\S+): (\S+ \S+) in`
	pausedLine = `paused for (\S+)`
)

func measureOne(ctx context.Context, cfg MeasureConfig, method string) (Measurement, error) {
	m := Measurement{Method: method}
	w := startWriter(ctx, cfg)
	time.Sleep(10 * time.Second)
	base := w.window()
	start := time.Now()
	out, err := cfg.Dtx(ctx, []string{"BACKUP_SQLITE=" + method}, "prod:backup")
	m.Backup = time.Since(start)
	during := w.window()
	w.stop()
	if err != nil {
		return m, fmt.Errorf("prod:backup: %w\n%s", err, out)
	}
	got := regexp.MustCompile(takenLine).FindStringSubmatch(out)
	if got == nil {
		return m, fmt.Errorf("prod:backup did not say what it took:\n%s", out)
	}
	name := got[1]
	m.Took = got[2]
	if p := regexp.MustCompile(pausedLine).FindStringSubmatch(out); p != nil {
		m.Paused = p[1]
	}
	var size float64
	var unit string
	fmt.Sscanf(got[3], "%g %s", &size, &unit)
	m.Size = int64(size * map[string]float64{"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit])
	m.Writes, m.FailedWrites = len(during.latencies), during.failed
	m.P50, m.Max = percentiles(during.latencies)
	m.BaseP50, m.BaseMax = percentiles(base.latencies)
	start = time.Now()
	if out, err := cfg.Dtx(ctx, nil, "prod:restore", "-name="+name); err != nil {
		return m, fmt.Errorf("prod:restore: %w\n%s", err, out)
	}
	m.Restore = time.Since(start)
	return m, nil
}

// writer posts small notes one after another and keeps each one's
// latency, window by window.
type writer struct {
	mu        sync.Mutex
	latencies []time.Duration
	failed    int
	done      chan struct{}
	stopped   chan struct{}
}

type window struct {
	latencies []time.Duration
	failed    int
}

func startWriter(ctx context.Context, cfg MeasureConfig) *writer {
	w := &writer{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		for {
			select {
			case <-w.done:
				return
			case <-ctx.Done():
				return
			default:
			}
			t0 := time.Now()
			err := post(ctx, cfg, "latency probe")
			d := time.Since(t0)
			w.mu.Lock()
			if err != nil {
				w.failed++
			} else {
				w.latencies = append(w.latencies, d)
			}
			w.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return w
}

// window returns what the writer saw since the last window.
func (w *writer) window() window {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := window{latencies: w.latencies, failed: w.failed}
	w.latencies, w.failed = nil, 0
	return out
}

func (w *writer) stop() {
	close(w.done)
	<-w.stopped
}

func post(ctx context.Context, cfg MeasureConfig, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.Base+"/api/notes", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /api/notes: %d %s", resp.StatusCode, strings.TrimSpace(string(answer)))
	}
	var ok struct{ ID int }
	return json.Unmarshal(answer, &ok)
}

// percentiles are the median and the maximum.
func percentiles(ds []time.Duration) (p50, max time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}

// Table renders measurements as a Markdown table.
func Table(ms []Measurement) string {
	var b strings.Builder
	b.WriteString("| data | SQLite taken by | prod:backup | its own time | writers paused | prod:restore | writes during the backup | write latency: median / max (without a backup) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, m := range ms {
		if m.Err != "" {
			fmt.Fprintf(&b, "| %d notes | %s | failed: %s | | | | | |\n", m.Rows, m.Method, strings.ReplaceAll(m.Err, "|", "\\|"))
			continue
		}
		paused := m.Paused
		if paused == "" {
			paused = "none"
		}
		fmt.Fprintf(&b, "| %s (%d notes) | %s | %s | %s | %s | %s | %d (%d failed) | %s / %s (%s / %s) |\n",
			HumanSize(m.Size), m.Rows, m.Method, m.Backup.Round(100*time.Millisecond), m.Took, paused, m.Restore.Round(100*time.Millisecond),
			m.Writes, m.FailedWrites, m.P50.Round(time.Millisecond), m.Max.Round(time.Millisecond), m.BaseP50.Round(time.Millisecond), m.BaseMax.Round(time.Millisecond))
	}
	return b.String()
}
