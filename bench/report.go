package main

import (
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/inittrace"
	"github.com/kettleofketchup/dtx_website/internal/loadtest"
)

// results are what a run measured and where.
type results struct {
	cores                              int
	cpu, memory, kernel                string
	engine, driver, compose, goVersion string
	buildx                             bool
	buildCommand, psCommand            string
	deployCommand                      string                      // the plain up of the deploy baseline
	loads                              map[string][]loadtest.Count // what the load saw during each deploy
	loadExamples                       map[string][]string         // the first failure of each kind in the first run of a variant that had any
	unsettled                          int                         // seconds waited for a quiet stack between deploys, beyond the first
	psContainers                       int
	samples                            map[string][]time.Duration
	ciSteps                            map[string][]stepCount
	pruned                             int
	sharedLeft                         int                        // build-cache records shared with images outside the benchmark, left
	retried                            int                        // cold-warm pairs done again
	loadStart, loadEnd                 string                     // /proc/loadavg
	loadDuring                         []float64                  // the 1-minute load average, every loadEvery during the run
	initTrace                          inittrace.Trace            // the tool's package initialisation, in the last of the init runs
	timeline                           timeline                   // the steps of the tool's deploys, as they print them
	runner                             runnerImage                // the browser tests' runner image
	backups                            string                     // backup.Table of the backups' measurement
	cluster                            string                     // the table of the three-node swarm's measurement (-cluster)
	before                             map[string][]time.Duration // -before: the raw samples of an earlier run
	beforeWhat                         string                     // and when and of what it was
	total                              time.Duration
}

func (r *results) add(key string, d time.Duration) {
	if r.samples == nil {
		r.samples = map[string][]time.Duration{}
		r.ciSteps = map[string][]stepCount{}
	}
	r.samples[key] = append(r.samples[key], d)
}

// addLoad records what the load saw during one run of key.
func (r *results) addLoad(key string, c loadtest.Count, examples []string) {
	if r.loads == nil {
		r.loads, r.loadExamples = map[string][]loadtest.Count{}, map[string][]string{}
	}
	r.loads[key] = append(r.loads[key], c)
	if len(r.loadExamples[key]) == 0 {
		r.loadExamples[key] = examples
	}
}

// failedRow is the failed requests of key's runs: median, min, max and the
// total of failed and sent, then the failures by kind.
func (r *results) failedRow(key string) string {
	var failed []int
	var total loadtest.Count
	for _, c := range r.loads[key] {
		failed = append(failed, c.Failed())
		total.Sent += c.Sent
		total.ConnErrors += c.ConnErrors
		total.ServerErrors += c.ServerErrors
		total.WrongBodies += c.WrongBodies
	}
	if len(failed) == 0 {
		return "- | - | - | -"
	}
	return fmt.Sprintf("%s | %d | %d | %d of %d (%d connection errors, %d 5xx, %d wrong bodies)",
		medianCount(failed), slices.Min(failed), slices.Max(failed), total.Failed(), total.Sent, total.ConnErrors, total.ServerErrors, total.WrongBodies)
}

// medianCount is the median of counts, with a half where it falls between
// two.
func medianCount(counts []int) string {
	s := slices.Sorted(slices.Values(counts))
	n := len(s)
	if n%2 == 1 {
		return fmt.Sprint(s[n/2])
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(s[n/2-1]+s[n/2])/2), ".0")
}

// failedTotal is the failed requests of all of key's runs.
func (r *results) failedTotal(key string) (failed, sent int) {
	for _, c := range r.loads[key] {
		failed += c.Failed()
		sent += c.Sent
	}
	return failed, sent
}

// median of samples; zero for none.
func median(samples []time.Duration) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func span(samples []time.Duration) (lo, hi time.Duration) {
	for i, d := range samples {
		if i == 0 || d < lo {
			lo = d
		}
		if i == 0 || d > hi {
			hi = d
		}
	}
	return lo, hi
}

func fmtDur(d time.Duration) string {
	return fmtMs(float64(d) / float64(time.Millisecond))
}

// row is one line of a measurement table: N, the quartiles, min and max.
func (r *results) row(key, label string) string {
	s := r.samples[key]
	lo, hi := span(s)
	q := spreadOf(ms(s))
	return fmt.Sprintf("| %s | %d | %s | %s | %s | %s | %s |", label, len(s), fmtMs(q.q1), fmtMs(q.median), fmtMs(q.q3), fmtDur(lo), fmtDur(hi))
}

const rowHeader = "| measurement | N | lower quartile | median | upper quartile | min | max |\n|---|---|---|---|---|---|---|"

// raw is key's samples in milliseconds, to the tenth, in run order.
func (r *results) raw(key string) string {
	var parts []string
	for _, v := range ms(r.samples[key]) {
		parts = append(parts, fmt.Sprintf("%.1f", v))
	}
	return strings.Join(parts, " ")
}

func (r *results) steps(key string) string {
	var parts []string
	for _, c := range r.ciSteps[key] {
		parts = append(parts, fmt.Sprintf("%d of %d", c.cached, c.total))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// goal is a figure the benchmark judges: a paired ratio of a tool's run to
// its raw command's (base set), or a time in milliseconds (base empty).
type goal struct {
	id, what   string
	tool, base string  // sample keys
	max        float64 // at most: a ratio, or milliseconds
	noise      string  // the raw baseline whose spread says how steady the machine was
	// commands is the sample key of the wall time of the commands the
	// tool ran in each of its samples (its DTX_TIMINGS): the raw command
	// timed in the same call, free of the run-to-run spread of the
	// engine's own work that a separate raw run carries. "" when the
	// goal has none.
	commands string
}

// goals are the issue's, in the order of the goals table; (d) and (f), the
// CI cache and the failed requests, are counts and have rows of their own.
var goals = []goal{
	{"a", "`./dtx stack:ps debug` / the `docker compose … ps` it runs", "ps-tool", "ps-raw", 1.10, "ps-raw", "ps-commands"},
	{"b", "warm `./dtx docker:build` / raw `docker compose build` of the same definition", "warm-tool", "warm-raw", 1.05, "warm-raw", "warm-commands"},
	{"c", "cold `./dtx docker:build` / raw cold `docker compose build` of the same definition", "cold-tool", "cold-raw", 1.05, "cold-raw", "cold-commands"},
	{"e", "`./dtx prod:deploy` / a plain `docker compose … up --detach --wait` of the same change, under load: time", "deploy-tool", "deploy-raw", 1.00, "deploy-raw", ""},
	{"g", "the way in: `./dtx -l` (script, launcher, the tool's start, no target)", "ps-way-in", "", 10, "ps-raw", ""},
	{"h", "the tool's package initialisation, every package's summed (`GODEBUG=inittrace=1 ./dtx -l`)", "init", "", 5, "ps-raw", ""},
}

// inRun is g's ratios in the same calls: each tool sample over the time
// of the commands it ran in that call, and their verdict (no baseline
// spread to excuse a miss: both sides of each ratio are one run). n is 0
// when the tool recorded no commands.
func (r *results) inRun(g goal) (s spread, verdict string) {
	if g.commands == "" {
		return spread{}, notMeasured
	}
	s = spreadOf(pairedRatios(r.samples[g.tool], r.samples[g.commands]))
	return s, judge(s, g.max, 0)
}

// ownPart is the median of what each tool sample took beyond the
// commands it ran: the tool's own part of a call.
func (r *results) ownPart(g goal) time.Duration {
	tool, cmds := r.samples[g.tool], r.samples[g.commands]
	var own []time.Duration
	for i := range min(len(tool), len(cmds)) {
		own = append(own, tool[i]-cmds[i])
	}
	return median(own)
}

func goalByID(id string) goal {
	for _, g := range goals {
		if g.id == id {
			return g
		}
	}
	panic("no goal " + id)
}

// values are what g is judged on in samples: the paired ratios, or the
// tool's samples in milliseconds.
func (g goal) values(samples map[string][]time.Duration) []float64 {
	if g.base == "" {
		return ms(samples[g.tool])
	}
	return pairedRatios(samples[g.tool], samples[g.base])
}

func (g goal) fmt(v float64) string {
	if g.base == "" {
		return fmtMs(v)
	}
	return fmtRatio(v)
}

func (g goal) goalText() string {
	if g.base == "" {
		return fmt.Sprintf("≤ %.0f ms", g.max)
	}
	return fmt.Sprintf("≤ %.2f", g.max)
}

// judged is g's quartiles, its baseline's spread and its verdict.
func (r *results) judged(g goal) (s spread, noise float64, verdict string) {
	s = spreadOf(g.values(r.samples))
	noise = spreadOf(ms(r.samples[g.noise])).relIQR()
	return s, noise, judge(s, g.max, noise)
}

// yardstick is the raw commands' own times: the machine's speed.
var yardstick = []struct{ key, what string }{
	{"ps-raw", "`docker compose … ps`"},
	{"warm-raw", "a warm `docker compose build` of the images"},
	{"cold-raw", "a cold `docker compose build` of the images"},
	{"deploy-raw", "a plain `docker compose … up --detach --wait` of the release stack"},
}

// report renders RESULTS.md.
func (b *bench) report() string {
	r := &b.results
	commit := "unknown"
	if out, err := exec.Command("git", "-C", b.repo, "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
		if st, _ := exec.Command("git", "-C", b.repo, "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
			commit += " with uncommitted changes"
		}
	}
	buildx := "no buildx: compose builds with its own BuildKit client on the engine's builder"
	if r.buildx {
		buildx = "buildx installed: compose builds through Bake"
	}
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("# Benchmark results")
	p("")
	p("Written by `go run ./bench` on %s (repository at %s). See [README.md](README.md) for what is measured and how, and how goals are judged.",
		b.started.UTC().Format("2006-01-02 15:04 UTC"), commit)
	p("")
	p("- Machine: %d cores (%s), %s of memory, Linux %s.", r.cores, r.cpu, r.memory, r.kernel)
	p("- Versions: Docker %s (storage driver %s), compose %s, %s; %s.", r.engine, r.driver, r.compose, r.goVersion, buildx)
	p("- Its speed, the yardstick (the raw commands' own times: median, and spread = interquartile range / median): %s.", r.yardstickText())
	p("- Load average (1 min) at the start: %s; during the run (every %.0f s): %s; at the end: %s (1, 5, 15 min at the start: %s).",
		firstField(r.loadStart), loadEvery.Seconds(), loadText(r.loadDuring), firstField(r.loadEnd), r.loadStart)
	p("- Steadiness: %s", r.noiseText())
	if b.website {
		p("- Site: the starters plus the services the website runs beside them, added with compose lines and files alone (internal/testsite): a worker and a stop-first beat on the backend image, and a bot on an image of its own built from the repository root with a second build context; %d images built, %d services in the release stack.", len(b.plan.Images), b.releaseServices)
	}
	p("- Runs: N=%d rounds of the build measurements (each round: every variant cold, then warm, rotating which goes first); N=%d of each stack:ps measurement, interleaved; N=%d rounds of the CI cache measurement; N=%d rounds of the deploy measurement (each: every variant to the new version and back). Every baseline ran in the same invocation. Whole benchmark: %s.",
		b.rounds, b.psRuns, b.ciRounds, b.deployRounds, r.total.Round(time.Second))
	if b.note != "" {
		p("- Note: %s", b.note)
	}
	p("")
	p("## Goals")
	p("")
	p("A goal meets when the upper quartile of its paired ratios (tool / raw of the same round), or of its times, does. When it does not and the raw baseline's own samples spread more than %s (interquartile range / median), the machine was too noisy to judge.", fmtPercent(noisyAbove))
	p("")
	p("| | comparison | N | lower quartile | median | upper quartile | goal | verdict | raw baseline's spread |")
	p("|---|---|---|---|---|---|---|---|---|")
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		switch id {
		case "d":
			if b.ciRounds > 0 {
				s := spreadOf(pairedRatios(r.samples["ci-cache"], r.samples["ci-nocache"]))
				p("| (d) | CI: `CACHE_FROM=registry ./dtx docker:build` / `./dtx docker:build`, both on a builder emptied of the build | %d | %s | %s | %s | every RUN step from the cache (%s) | %s | |",
					s.n, fmtRatio(s.q1), fmtRatio(s.median), fmtRatio(s.q3), r.steps("ci-cache"), ciVerdict(r.ciSteps["ci-cache"]))
			}
		case "f":
			if b.deployRounds > 0 {
				tf, ts := r.failedTotal("deploy-tool")
				rf, rs := r.failedTotal("deploy-raw")
				p("| (f) | failed requests during `./dtx prod:deploy` (the plain up's: %d of %d) | %d | | %d of %d | | 0 | %s | |",
					rf, rs, len(r.loads["deploy-tool"]), tf, ts, failVerdict(tf, len(r.loads["deploy-tool"])))
			}
		default:
			g := goalByID(id)
			if id == "e" && b.deployRounds == 0 {
				continue
			}
			s, noise, verdict := r.judged(g)
			if in, v := r.inRun(g); in.n > 0 {
				verdict += "; in the same calls: " + v
			}
			p("| (%s) | %s | %d | %s | %s | %s | %s | %s | %s |", g.id, g.what, s.n, g.fmt(s.q1), g.fmt(s.median), g.fmt(s.q3), g.goalText(), verdict, fmtPercent(noise))
		}
	}
	b.inRunTable(p)
	if r.before != nil {
		b.beforeAfter(p)
	}
	p("")
	p("## Builds of the %d images (%s)", len(b.plan.Images), strings.Join(b.imageNames(), ", "))
	p("")
	p("The raw baseline is the command the tool runs, fed the same definition (`images.Plan`, checked against the tool's own dry run before anything was measured):")
	p("")
	p("    %s", r.buildCommand)
	p("")
	p("Cold: before each cold run the images were removed (by tag) and a new comment line was appended to the first file each Dockerfile copies from its context that takes one (%s), so that every step from that COPY on missed the cache; the engine's build cache is shared and was not pruned (see [README.md](README.md)). After each run the benchmark checked that every cold run rebuilt all %d images (their creation times) and every warm run none (their IDs unchanged); it stops otherwise. Warm: the same command again right away, nothing changed. Pairs whose warm run rebuilt something (a cache record of the cold build gone in between, on this shared engine) were done again: %d.", strings.Join(b.nonceFiles(), ", "), len(b.plan.Images), r.retried)
	p("")
	p("%s", rowHeader)
	p("%s", r.row("cold-tool", "cold: `./dtx docker:build`"))
	p("%s", r.row("cold-raw", "cold: raw `docker compose build`"))
	p("%s", r.row("warm-tool", "warm: `./dtx docker:build`"))
	p("%s", r.row("warm-raw", "warm: raw `docker compose build`"))
	p("")
	p("The tool minus the raw build (median minus median): cold %s, warm %s. The tool's part of a build (in the same calls: see the goals): the way in (below), reading the env files, the images' build sections (compose-go's load of the compose files that may declare a build, at once, or its answer kept from the last call when none of the files and values it read changed), checking each Dockerfile's stages, and its summary (each image's size and creation time, from the engine's socket, all at once).",
		signed(median(r.samples["cold-tool"])-median(r.samples["cold-raw"])), signed(median(r.samples["warm-tool"])-median(r.samples["warm-raw"])))
	p("")
	p("## A cheap target: `stack:ps debug`, and the way in")
	p("")
	p("With the debug stack up (%d containers), the tool's `stack:ps debug` against the command it prints and runs, replayed verbatim:", r.psContainers)
	p("")
	p("    %s", r.psCommand)
	p("")
	p("%s", rowHeader)
	p("%s", r.row("ps-tool", "`./dtx stack:ps debug`"))
	p("%s", r.row("ps-raw", "`docker compose … ps` (the command above)"))
	p("%s", r.row("ps-way-in", "`./dtx -l` (the way in alone: no target, no compose)"))
	p("%s", r.row("init", "the tool's package initialisation (its trace's sum, without its check of itself)"))
	p("%s", r.row("init-check", "the tool's check of itself against the sources (internal/launcher's initialisation)"))
	p("")
	p("The tool adds %s per call (median minus median). The way in alone takes %s: `./dtx` (a shell script that execs the tool it ran last), and the start of the tool: Go's runtime, the package initialisation (%s), and the tool's check that it is the tool of the sources as they are (%s: a stat of each source against the launcher's index, the Go toolchain's fingerprint; medians of %d runs of `GODEBUG=inittrace=1 ./dtx -l`, interleaved with the others). Only a tool that is not current starts the launcher as well. Go initialises every package the tool links, whatever the target. %s The target itself reads the env files and runs compose: stack:ps loads the compose file through compose-go only to explain a failure.",
		signed(median(r.samples["ps-tool"])-median(r.samples["ps-raw"])), fmtDur(median(r.samples["ps-way-in"])), fmtDur(median(r.samples["init"])), fmtDur(median(r.samples["init-check"])), len(r.samples["init"]), r.initText())
	if b.ciRounds > 0 {
		p("")
		p("## CI: a build on an empty builder, with and without the registry's cache")
		p("")
		p("Each round appended new comment lines (as for a cold build), built with `./dtx docker:build` and pushed with `./dtx docker:push` to the registry path of the benchmark: the previous CI run. Then it emptied the builder of that build (its images removed by tag, and the build-cache records that appeared during it removed one by one with `docker builder prune --filter id=^ID$`: %d records in all, %d shared with images outside the benchmark left) and built the same inputs twice, in rotating order, emptying the builder after each: with `CACHE_FROM=registry` (the definition gets `cache_from: REGISTRY/<image>:latest`; every image carries its cache inline) and without. RUN steps that came from a cache, counted from compose's plain progress (`#12 CACHED`), per round:", r.pruned, r.sharedLeft)
		p("")
		p("| measurement | N | lower quartile | median | upper quartile | min | max | RUN steps from a cache |")
		p("|---|---|---|---|---|---|---|---|")
		p("%s %s |", r.row("ci-cache", "`CACHE_FROM=registry ./dtx docker:build`"), r.steps("ci-cache"))
		p("%s %s |", r.row("ci-nocache", "`./dtx docker:build`, no cache"), r.steps("ci-nocache"))
		p("")
		p("The starters have one RUN step (nginx's `chmod`/`mkdir`); the website's apps add theirs (`npm ci`, `pip install`), and there a step that comes from the cache saves what the step costs, less pulling its layer. Inline cache covers the layers of the image built (mode=min): the steps of a stage the image does not contain, such as a build stage's `npm ci`, are not in it (see [Build cache in CI](../docs/builds.md#build-cache-in-ci)).")
	}
	if b.deployRounds > 0 {
		b.deployReport(p)
	}
	if r.backups != "" {
		p("")
		p("## Backups: prod:backup and prod:restore of the release stack")
		p("")
		p("backup.Measure, on the release stack the deploys left at 1.0.0: the data filled up to each size with notes, then for each way of taking SQLite, prod:backup timed while a writer posts small notes one after another (their latency is the pause a backup causes to writes), and the prod:restore of that backup:")
		p("")
		p("%s", strings.TrimRight(r.backups, "\n"))
	}
	if r.cluster != "" {
		b.clusterSection(p)
	}
	p("")
	p("## The browser tests' runner image")
	p("")
	for _, l := range r.runner.lines() {
		p("%s", l)
	}
	p("")
	p("## How to read these figures")
	p("")
	p("Each time is the wall time of one whole command, start to exit, as seen by the benchmark (Go's monotonic clock). Each ratio divides two runs of the same round, a few seconds apart, so that the machine's state at that moment weighs on both; absolute times from another run or machine are not comparable, the yardstick above says how fast this one was. A ratio below 1 means the tool was faster. The quartiles say how the runs spread: half of them lie between the lower and the upper quartile, and a goal is judged on the upper one.")
	p("")
	p("## Raw samples (ms, in run order)")
	p("")
	p("| measurement | samples |")
	p("|---|---|")
	for _, k := range sampleKeys {
		if len(r.samples[k]) > 0 {
			p("| %s | %s |", k, r.raw(k))
		}
	}
	for _, k := range []string{"deploy-tool", "deploy-raw"} {
		if len(r.loads[k]) > 0 {
			var parts []string
			for _, c := range r.loads[k] {
				parts = append(parts, fmt.Sprintf("%d/%d", c.Failed(), c.Sent))
			}
			p("| %s, failed/sent requests | %s |", k, strings.Join(parts, " "))
		}
	}
	return w.String()
}

// inRunTable is (a), (b) and (c) judged in the same calls: the tool's
// time over its own commands' (DTX_TIMINGS), when the tool recorded them.
func (b *bench) inRunTable(p func(string, ...any)) {
	r := &b.results
	var rows []string
	for _, g := range goals {
		s, verdict := r.inRun(g)
		if s.n == 0 {
			continue
		}
		rows = append(rows, fmt.Sprintf("| (%s) | %s | %d | %s | %s | %s | %s | %s | %s |", g.id, inRunWhat[g.id], s.n, fmtRatio(s.q1), fmtRatio(s.median), fmtRatio(s.q3), g.goalText(), verdict, fmtDur(r.ownPart(g))))
	}
	if len(rows) == 0 {
		return
	}
	p("")
	p("### The same goals in the same calls")
	p("")
	p("A separate raw run carries the engine's own spread from one run to the next (BuildKit's above all), which the tool does not add and which pairs of separate runs cannot cancel on a noisy machine. So each timed `./dtx` call also recorded the commands it ran (`DTX_TIMINGS`, with their wall times, by the tool's executor): below, each call's time over its commands' time, the raw command timed in the same call, under the same conditions. What a call took beyond its commands is the tool's own part: its start, reading the env and compose files, its checks and its summary. A goal meets here when the upper quartile does.")
	p("")
	p("| | the tool's call / the commands it ran, in the same call | N | lower quartile | median | upper quartile | goal | verdict | the tool's own part (median) |")
	p("|---|---|---|---|---|---|---|---|---|")
	for _, row := range rows {
		p("%s", row)
	}
}

// inRunWhat names each in-run comparison.
var inRunWhat = map[string]string{
	"a": "`./dtx stack:ps debug` / its `docker compose … ps`",
	"b": "warm `./dtx docker:build` / its `docker compose build`",
	"c": "cold `./dtx docker:build` / its `docker compose build`",
}

// sampleKeys are the measurements, in the order of the raw samples table.
var sampleKeys = []string{"cold-tool", "cold-commands", "cold-raw", "warm-tool", "warm-commands", "warm-raw", "ps-tool", "ps-commands", "ps-raw", "ps-way-in", "init", "ci-cache", "ci-nocache", "deploy-tool", "deploy-raw"}

func (r *results) yardstickText() string {
	var parts []string
	for _, y := range yardstick {
		if s := r.samples[y.key]; len(s) > 0 {
			q := spreadOf(ms(s))
			parts = append(parts, fmt.Sprintf("%s %s (spread %s)", y.what, fmtMs(q.median), fmtPercent(q.relIQR())))
		}
	}
	if len(parts) == 0 {
		return "none measured"
	}
	return strings.Join(parts, "; ")
}

// noiseText says which goals were too noisy to judge, or that none was.
func (r *results) noiseText() string {
	var noisy, steady []string
	for _, g := range goals {
		if len(r.samples[g.tool]) == 0 {
			continue
		}
		if _, noise, verdict := r.judged(g); verdict == tooNoisy {
			noisy = append(noisy, fmt.Sprintf("(%s) (%s spread %s)", g.id, g.noise, fmtPercent(noise)))
		} else {
			steady = append(steady, "("+g.id+")")
		}
	}
	if len(noisy) == 0 {
		return fmt.Sprintf("steady enough to judge every goal measured (%s).", strings.Join(steady, ", "))
	}
	return fmt.Sprintf("too noisy to judge %s: their upper quartile misses the goal, and the raw baseline spread more than %s. Run again on a quieter machine.", strings.Join(noisy, ", "), fmtPercent(noisyAbove))
}

func firstField(s string) string {
	if f := strings.Fields(strings.ReplaceAll(s, ",", " ")); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

func loadText(v []float64) string {
	if len(v) == 0 {
		return "not sampled"
	}
	s := spreadOf(v)
	return fmt.Sprintf("median %.2f, max %.2f (%d samples)", s.median, slices.Max(v), len(v))
}

// initText is what the last init run's trace says: packages, allocation,
// the costly ones and the slowest.
func (r *results) initText() string {
	t := r.initTrace
	if len(t) == 0 {
		return ""
	}
	describe := func(ps []inittrace.Package, withTime bool) string {
		var parts []string
		for _, p := range ps {
			if withTime {
				parts = append(parts, fmt.Sprintf("%s %s", p.Path, fmtDur(p.Clock)))
			} else {
				parts = append(parts, fmt.Sprintf("%s %d kB", p.Path, p.Bytes>>10))
			}
		}
		if len(parts) == 0 {
			return "none"
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("In the last of those runs: %d packages, %d kB allocated; those allocating %d kB or more (a costly initialisation, which internal/launcher's TestStartCost keeps to a known list): %s; the slowest: %s.",
		len(t), t.Bytes()>>10, inittrace.CostlyBytes>>10, describe(t.Costly(), false), describe(t.Slowest(3), true))
}

func signed(d time.Duration) string {
	if d < 0 {
		return "−" + fmtDur(-d)
	}
	return fmtDur(d)
}

// ciVerdict says whether every RUN step of every cached build came from
// the cache.
func ciVerdict(counts []stepCount) string {
	if len(counts) == 0 {
		return notMeasured
	}
	for _, c := range counts {
		if c.total == 0 || c.cached != c.total {
			return misses
		}
	}
	return meets
}

// failVerdict says whether no request failed in runs deploys.
func failVerdict(failed, runs int) string {
	switch {
	case runs == 0:
		return notMeasured
	case failed == 0:
		return meets
	}
	return misses
}

// deployReport is the section of the deploy measurement.
func (b *bench) deployReport(p func(string, ...any)) {
	r := &b.results
	p("")
	p("## Deploys under load: `./dtx prod:deploy` against a plain `up`")
	p("")
	p("Two versions of the starters whose page and API answer `build one;` (1.0.0) and `build two;` (1.1.0) were built with `./dtx docker:build` and pushed with `./dtx docker:push` to the registry path of the benchmark, and the release stack was started at 1.0.0 with `./dtx prod:deploy -version=1.0.0` (not measured). Then each round switched to 1.1.0 and back to 1.0.0 with each variant, rotating which went first; both switches are samples. The baseline is the command `./dtx prod:deploy` runs on an empty server, read from its dry run (the same project, compose files and env files), here for 1.1.0:")
	p("")
	p("    %s", r.deployCommand)
	p("")
	p("It recreates in place every service whose configuration changed: frontend, backend and nginx alike, since each version tags every image (nginx's tag changes, its image does not). `./dtx prod:deploy` starts the new frontend and backend beside the old ones, moves nginx to them once they are healthy, drains and removes the old ones, and keeps nginx (same image under its new tag); its time includes pulling the three images.")
	p("")
	p("During each deploy, and for one second after it returned, a steady stream of HTTPS requests went through nginx on 127.0.0.1: one every %d ms at most (one at a time, so a slow answer delays the next), alternating `/` and `/api/status`, a new connection each, client timeout %d s, nginx's rate limits raised. A failed request is a connection error, a 5xx, or a body with neither version's marker. After each deploy the new version had to be the one answering. Before each deploy the load had to go right for a whole second (15 s at most, or the benchmark stops), so that the failures counted are the deploy's; seconds waited beyond the first: %d.", loadtest.Every.Milliseconds(), int(loadtest.Timeout.Seconds()), r.unsettled)
	p("")
	p("| deploy | N | lower quartile | median | upper quartile | min | max | failed requests: median | min | max | all runs |")
	p("|---|---|---|---|---|---|---|---|---|---|---|")
	p("%s %s |", r.row("deploy-tool", "`./dtx prod:deploy -version=V`"), r.failedRow("deploy-tool"))
	p("%s %s |", r.row("deploy-raw", "plain `VERSION=V docker compose … up --detach --wait`"), r.failedRow("deploy-raw"))
	p("")
	g := goalByID("e")
	s, _, _ := r.judged(g)
	p("`./dtx prod:deploy` took %s× the plain up's time (median of the paired ratios; median minus median: %s) for %s failed requests instead of %s (medians per deploy). The load only ever talks to nginx, which answers a failed upstream with a 502: a connection error (refused, or closed before an answer: `EOF`) is nginx itself going away while it is recreated; a 5xx is nginx answering while the container behind it is replaced.",
		fmtRatio(s.median), signed(median(r.samples["deploy-tool"])-median(r.samples["deploy-raw"])),
		medianOf(r.loads["deploy-tool"]), medianOf(r.loads["deploy-raw"]))
	p("")
	p("### Where a deploy's time goes")
	p("")
	p("%s", r.timeline.text(median(r.samples["deploy-tool"])))
	for _, k := range []string{"deploy-raw", "deploy-tool"} {
		if ex := r.loadExamples[k]; len(ex) > 0 {
			p("")
			p("In the first %s run with failures, the first failed request of each kind:", k)
			p("")
			for _, e := range ex {
				p("    %s", e)
			}
		}
	}
}

func medianOf(counts []loadtest.Count) string {
	var failed []int
	for _, c := range counts {
		failed = append(failed, c.Failed())
	}
	if len(failed) == 0 {
		return "-"
	}
	return medianCount(failed)
}

// beforeAfter is the table of each goal's figures in an earlier run
// (-before) and in this one, judged alike.
func (b *bench) beforeAfter(p func(string, ...any)) {
	r := &b.results
	p("")
	p("### Before and after")
	p("")
	p("The same figures from the raw samples of an earlier run (%s), computed the same way: the median and upper quartile of its paired ratios (or times), and this run's.", r.beforeWhat)
	p("")
	p("| | figure | before: median | upper quartile | after: median | upper quartile | goal |")
	p("|---|---|---|---|---|---|---|")
	for _, g := range goals {
		before, after := spreadOf(g.values(r.before)), spreadOf(g.values(r.samples))
		if before.n == 0 && after.n == 0 {
			continue
		}
		p("| (%s) | %s | %s | %s | %s | %s | %s |", g.id, g.what, g.fmt(before.median), g.fmt(before.q3), g.fmt(after.median), g.fmt(after.q3), g.goalText())
	}
	for _, y := range yardstick {
		before, after := spreadOf(ms(r.before[y.key])), spreadOf(ms(r.samples[y.key]))
		if before.n == 0 && after.n == 0 {
			continue
		}
		p("| | the yardstick: %s | %s | %s | %s | %s | |", y.what, fmtMs(before.median), fmtMs(before.q3), fmtMs(after.median), fmtMs(after.q3))
	}
}

// runOf says when an earlier RESULTS.md was written and of which commit,
// from its first line: "Written by `go run ./bench` on DATE (repository at
// COMMIT)".
func runOf(text string) string {
	_, rest, ok := strings.Cut(text, "Written by `go run ./bench` on ")
	if !ok {
		return "an earlier run"
	}
	when, _, _ := strings.Cut(rest, ". See")
	return "the run of " + when
}

// parseRawSamples reads the raw samples table of a RESULTS.md: rows
// "| key | 12.5 13 … |" (milliseconds; whole ones in earlier runs).
func parseRawSamples(text string) (map[string][]time.Duration, error) {
	_, table, ok := strings.Cut(text, "## Raw samples")
	if !ok {
		return nil, fmt.Errorf("no \"## Raw samples\" table")
	}
	out := map[string][]time.Duration{}
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 2 {
			continue
		}
		key := strings.TrimSpace(cells[0])
		if !slices.Contains(sampleKeys, key) {
			continue // the header, or the failed requests
		}
		for _, f := range strings.Fields(cells[1]) {
			var v float64
			if _, err := fmt.Sscanf(f, "%g", &v); err != nil {
				return nil, fmt.Errorf("%s: %q is not a time in ms", key, f)
			}
			out[key] = append(out[key], time.Duration(v*float64(time.Millisecond)))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the raw samples table has no measurement")
	}
	return out, nil
}

// clusterSection is the section of the three-node swarm's measurement.
func (b *bench) clusterSection(p func(string, ...any)) {
	p("")
	p("## A three-node swarm (-cluster): updates, a drain, a node lost")
	p("")
	p("The release stack on three Docker engines of this machine (internal/testcluster: a network, mount, PID and UTS namespace each, a bridge between them, a plain-HTTP registry on it), made one swarm by `./dtx swarm:setup`, nginx on every node (host-mode ports 80 and 443), redis and backend on the manager (the data node). A load at every node's address (one request every %s, page and API in turn, each counted at its node); each phase counted from its start to a second after it returned:", loadtest.Every)
	p("")
	p("%s", strings.TrimRight(b.results.cluster, "\n"))
}

// clusterReport is the results of -only-cluster: the run, the machine
// and the cluster's section.
func (b *bench) clusterReport() string {
	r := &b.results
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("# Benchmark results: a three-node swarm")
	p("")
	p("Written by `go run ./bench -only-cluster` on %s. See [README.md](README.md).", b.started.UTC().Format("2006-01-02 15:04 UTC"))
	p("")
	p("- Machine: %d cores (%s), %s of memory, Linux %s; Docker %s.", r.cores, r.cpu, r.memory, r.kernel, r.engine)
	p("- Load average (1 min) at the start: %s; during the run (every %.0f s): %s; at the end: %s. Whole run: %s.",
		firstField(r.loadStart), loadEvery.Seconds(), loadText(r.loadDuring), firstField(r.loadEnd), r.total.Round(time.Second))
	if b.note != "" {
		p("- Note: %s", b.note)
	}
	b.clusterSection(p)
	return w.String()
}
