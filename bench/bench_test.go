package main

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/loadtest"
	"github.com/kettleofketchup/dtx_website/internal/testcluster"
)

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	for _, c := range []struct {
		name    string
		samples []time.Duration
		want    time.Duration
	}{
		{"none", nil, 0},
		{"odd count, unsorted", ms(30, 10, 20), 20 * time.Millisecond},
		{"even count: the mean of the middle two", ms(40, 10, 30, 20), 25 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := median(c.samples); got != c.want {
				t.Fatalf("median %v, want %v", got, c.want)
			}
		})
	}
}

// The CI figure rests on reading which RUN steps came from a cache.
func TestRunSteps(t *testing.T) {
	progress := `#9 [nginx 2/5] COPY nginx.conf /etc/nginx/nginx.conf
#9 CACHED
#10 [nginx 5/5] RUN chmod 0755 /usr/local/bin/dtx-nginx
#10 pulling sha256:cac30f706a69 0.0s done
#10 CACHED
#14 [backend base 2/3] RUN pip install -r requirements.txt
#14 DONE 12.1s
`
	for _, c := range []struct {
		name     string
		progress string
		want     stepCount
	}{
		{"one RUN from the cache, one run", progress, stepCount{total: 2, cached: 1}},
		{"a cached COPY is no RUN", "#9 [nginx 2/5] COPY a b\n#9 CACHED\n", stepCount{}},
		{"no progress", "", stepCount{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := runSteps(c.progress); got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestParseRecords(t *testing.T) {
	out := `[{"ID":"abc*","InUse":"true"},{"ID":"def","InUse":"false"}]`
	got, err := parseRecords(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["abc"] || got["def"] {
		t.Fatalf("got %v", got)
	}
	if got, err := parseRecords("null\n"); err != nil || len(got) != 0 {
		t.Fatalf("no records: %v %v", got, err)
	}
}

func TestQuantile(t *testing.T) {
	for _, c := range []struct {
		values      []float64
		q, want     float64
		description string
	}{
		{[]float64{7}, 0.75, 7, "one value: every quantile"},
		{[]float64{1, 2}, 0.75, 1.75, "two values: between them"},
		{[]float64{1, 2, 3, 4, 5}, 0.25, 2, "on a rank"},
		{[]float64{1, 2, 3, 4}, 0.5, 2.5, "the median of an even count"},
	} {
		if got := quantile(c.values, c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: quantile(%v, %v) = %v, want %v", c.description, c.values, c.q, got, c.want)
		}
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("no values: want NaN")
	}
}

func TestPairedRatios(t *testing.T) {
	ms := time.Millisecond
	// Rounds: 1.1, 1.1, 3.0, 1.1; a fifth tool run has no pair.
	got := pairedRatios([]time.Duration{110 * ms, 220 * ms, 600 * ms, 330 * ms, 9 * ms}, []time.Duration{100 * ms, 200 * ms, 200 * ms, 300 * ms})
	want := []float64{1.1, 1.1, 3.0, 1.1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	// One slow round in four does not move the median, and the upper
	// quartile sees it only through interpolation.
	s := spreadOf(got)
	if math.Abs(s.median-1.1) > 1e-9 || s.q3 < 1.1 || s.q3 > 1.6 {
		t.Errorf("spread %+v", s)
	}
}

// A goal meets only when its upper quartile does; a miss on a machine
// whose baseline spread more than noisyAbove is too noisy to judge.
func TestJudge(t *testing.T) {
	for _, c := range []struct {
		name  string
		s     spread
		noise float64
		want  string
	}{
		{"upper quartile within", spread{n: 9, q1: 1.0, median: 1.04, q3: 1.09}, 0.05, meets},
		{"median within, upper quartile over", spread{n: 9, q1: 1.0, median: 1.04, q3: 1.12}, 0.05, misses},
		{"the same on a noisy machine", spread{n: 9, q1: 1.0, median: 1.04, q3: 1.12}, 0.35, tooNoisy},
		{"within even on a noisy machine", spread{n: 9, q1: 0.9, median: 1.0, q3: 1.08}, 0.35, meets},
		{"nothing measured", spread{}, 0, notMeasured},
	} {
		if got := judge(c.s, 1.10, c.noise); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// The report judges each goal on its samples and says which were too
// noisy.
func TestGoalsInTheReport(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x*float64(time.Millisecond)))
		}
		return d
	}
	r := results{samples: map[string][]time.Duration{
		// stack:ps: the tool 5 % over a steady baseline.
		"ps-tool": ms(105, 106, 104, 105, 105, 106, 104, 105),
		"ps-raw":  ms(100, 101, 99, 100, 100, 101, 99, 100),
		// warm builds: 20 % over, on a baseline that spreads 50 %.
		"warm-tool": ms(480, 960, 600, 720),
		"warm-raw":  ms(400, 800, 500, 600),
		"ps-way-in": ms(8, 9, 9.5, 8.5),
		"init":      ms(1.2, 1.4, 1.3, 6),
	}}
	for _, c := range []struct{ id, want string }{{"a", meets}, {"b", tooNoisy}, {"g", meets}, {"h", meets}} {
		if _, _, got := r.judged(goalByID(c.id)); got != c.want {
			t.Errorf("(%s): %s, want %s", c.id, got, c.want)
		}
	}
	if got := r.noiseText(); !strings.Contains(got, "too noisy to judge (b) (warm-raw spread") {
		t.Errorf("noise text: %s", got)
	}

	// In the same calls: each warm build over the compose build it ran
	// (2 %, 4 %, 3 %, 2 % more): meets, whatever the separate runs'
	// spread; the tool's own part is the median of the differences.
	r.samples["warm-commands"] = ms(470, 923, 583, 706)
	s, verdict := r.inRun(goalByID("b"))
	if verdict != meets || s.n != 4 || s.q3 > 1.05 {
		t.Errorf("(b) in the same calls: %+v %s, want meets", s, verdict)
	}
	if own := r.ownPart(goalByID("b")); own < 14*time.Millisecond || own > 17*time.Millisecond {
		t.Errorf("own part %v, want the median of 10, 37, 17, 14 ms", own)
	}
	// stack:ps over its compose ps by 20 %: misses in the same calls.
	r.samples["ps-commands"] = ms(87, 88, 87, 87, 88, 88, 86, 87)
	if _, verdict := r.inRun(goalByID("a")); verdict != misses {
		t.Errorf("(a) in the same calls: %s, want misses", verdict)
	}
	// A checkout whose tool records no commands: no verdict in the calls.
	if s, _ := r.inRun(goalByID("c")); s.n != 0 {
		t.Errorf("(c) without commands: %+v", s)
	}
}

// -before reads the raw samples of a RESULTS.md, the committed one of an
// earlier bench included (whole milliseconds).
func TestParseRawSamples(t *testing.T) {
	old, err := os.ReadFile("RESULTS.md")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseRawSamples(string(old))
	if err != nil {
		t.Fatal(err)
	}
	if len(got["ps-raw"]) == 0 || len(got["cold-tool"]) == 0 {
		t.Fatalf("from RESULTS.md: %v", got)
	}
	text := "# Benchmark results\n\nWritten by `go run ./bench` on 2026-12-07 10:00 UTC (repository at abc1234). See\n\n## Raw samples (ms, in run order)\n\n| measurement | samples |\n|---|---|\n| ps-raw | 104.5 98 |\n| init | 1.3 1.25 |\n| deploy-tool, failed/sent requests | 0/272 |\n"
	got, err = parseRawSamples(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["init"][1] != 1250*time.Microsecond || got["ps-raw"][0] != 104500*time.Microsecond {
		t.Fatalf("got %v", got)
	}
	if w := runOf(text); w != "the run of 2026-12-07 10:00 UTC (repository at abc1234)" {
		t.Errorf("runOf: %q", w)
	}
	if _, err := parseRawSamples("# Benchmark results\n"); err == nil {
		t.Error("a file without raw samples: no error")
	}
}

// The deploy's timeline is read from what prod:deploy prints
// (docs/deploys.md, "The timeline").
func TestTimeline(t *testing.T) {
	var tl timeline
	tl.add("+ docker compose … pull\ntimeline plan 1.103s\ntimeline pull 0.411s\n1.1.0 deployed in 2.1s\ntimeline total 2.000s\n")
	tl.add("timeline plan 0.9s\ntimeline drain 5.330s\ntimeline total 7.000s\n")
	tl.add("an older prod:deploy prints none\n")
	if tl.deploys != 3 || tl.without != 1 || strings.Join(tl.order, " ") != "plan pull total drain" {
		t.Fatalf("%+v", tl)
	}
	if got := median(tl.took["plan"]); got != 1001500*time.Microsecond {
		t.Errorf("plan's median %v", got)
	}
	text := tl.text(5 * time.Second)
	for _, want := range []string{"| drain | 1 | 5.33 s |", "(1 printed none)", "minus its timeline's total (median 4.50 s): 500 ms", "    timeline plan 1.103s"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	var none timeline
	none.add("no timeline here\n")
	if !strings.Contains(none.text(time.Second), "printed no timeline") {
		t.Errorf("without a timeline: %s", none.text(time.Second))
	}
}

// The whole report renders from what a run measured, here with an earlier
// run's samples beside (-before) and no deploy or CI measurement.
func TestReport(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x*float64(time.Millisecond)))
		}
		return d
	}
	b := &bench{config: config{rounds: 2, psRuns: 3}, started: time.Now()}
	b.results = results{
		cores: 2, loadStart: "0.30, 0.20, 0.10", loadEnd: "0.50, 0.30, 0.10", loadDuring: []float64{0.4, 0.6},
		samples: map[string][]time.Duration{
			"cold-tool": ms(910, 920), "cold-raw": ms(900, 905),
			"warm-tool": ms(550, 560), "warm-raw": ms(540, 545),
			"ps-tool": ms(110, 112, 111), "ps-raw": ms(104, 105, 106),
			"ps-way-in": ms(8.1, 8.3, 8.2), "init": ms(1.5, 1.6, 1.4),
		},
		before: map[string][]time.Duration{
			"ps-tool": ms(122, 125, 120), "ps-raw": ms(105, 104, 103), "ps-way-in": ms(16, 17, 15),
		},
		beforeWhat: "the run of 2026-11-27 10:04 UTC (repository at 79b5260)",
		runner:     runnerImage{ref: "example/playwright-runner:latest", base: "dtx-base:bookworm", build: 1500 * time.Millisecond, size: 788e6, baseSize: 321e6, measuring: true},
	}
	out := b.report()
	for _, want := range []string{
		"| (a) | `./dtx stack:ps debug` / the `docker compose … ps` it runs | 3 | 1.05 | 1.06 | 1.06 | ≤ 1.10 | meets | 1 % |",
		"| (g) | the way in: `./dtx -l` (script, launcher, the tool's start, no target) | 3 | 8.1 ms | 8.2 ms | 8.2 ms | ≤ 10 ms | meets | 1 % |",
		"steady enough to judge every goal measured ((a), (b), (c), (g), (h)).",
		"### Before and after",
		"| (a) | `./dtx stack:ps debug` / the `docker compose … ps` it runs | 1.17 | 1.18 | 1.06 | 1.06 | ≤ 1.10 |",
		"| (g) | the way in: `./dtx -l` (script, launcher, the tool's start, no target) | 16.0 ms | 16.5 ms | 8.2 ms | 8.2 ms | ≤ 10 ms |",
		"on `BROWSER_BASE_IMAGE=dtx-base:bookworm`",
		"| before: the earlier Chromium runner (playwright-core, Debian's npm left in the image) on `dtx-base:bookworm`, measured 2026-12-07 | 1373 MB |",
		"| after: `example/playwright-runner:latest` (Playwright Test, Debian's chromium, no npm or compiler) | 788 MB (0.57× before) |",
		"| what the runner adds to its base | 467 MB |",
		"| init | 1.5 1.6 1.4 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report has no line with %q", want)
		}
	}
	if strings.Contains(out, "(e)") || strings.Contains(out, "## CI") {
		t.Error("the report shows measurements that did not run")
	}
	if t.Failed() {
		t.Log(out)
	}
}

// The cluster measurement's table: a column per node, sent / failed.
func TestClusterTable(t *testing.T) {
	nodes := []*testcluster.Node{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}}
	rows := []clusterRow{
		{what: "rolling update to 1.1.0", took: 51390 * time.Millisecond, counts: []loadtest.Count{{Sent: 2000}, {Sent: 1990, ConnErrors: 2}, {Sent: 2001, ServerErrors: 1, WrongBodies: 1}}},
		{what: "kill n3: until Swarm marked it down", took: 13 * time.Second, counts: []loadtest.Count{{Sent: 500}, {Sent: 499}, {Sent: 5, ConnErrors: 5}}, note: "seconds from the kill"},
	}
	got := clusterTable(nodes, rows)
	for _, want := range []string{
		"| Phase | Seconds | node 1 (manager, data): sent / failed | node 2 (worker): sent / failed | node 3 (worker): sent / failed | Note |\n| --- | ---: | ---: | ---: | ---: | --- |\n",
		"| rolling update to 1.1.0 | 51.4 | 2000 / 0 | 1990 / 2 | 2001 / 2 |  |\n",
		"| kill n3: until Swarm marked it down | 13.0 | 500 / 0 | 499 / 0 | 5 / 5 | seconds from the kill |\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the table lacks %q:\n%s", want, got)
		}
	}
}
