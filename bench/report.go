package main

import (
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

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
	retried                            int    // cold-warm pairs done again
	loadStart, loadEnd                 string // /proc/loadavg
	inits                              initCost
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

func (r *results) last(key string) string {
	s := r.samples[key]
	if len(s) == 0 {
		return "-"
	}
	return fmtDur(s[len(s)-1])
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

// pairedRatio is the median of the ratios a[i]/b[i]: runs of the same
// round, a few seconds apart, so a load that comes and goes over the run
// weighs less than in the ratio of medians.
func (r *results) pairedRatio(a, b string) float64 {
	sa, sb := r.samples[a], r.samples[b]
	var ratios []float64
	for i := 0; i < len(sa) && i < len(sb); i++ {
		if sb[i] > 0 {
			ratios = append(ratios, float64(sa[i])/float64(sb[i]))
		}
	}
	if len(ratios) == 0 {
		return 0
	}
	sort.Float64s(ratios)
	if len(ratios)%2 == 1 {
		return ratios[len(ratios)/2]
	}
	return (ratios[len(ratios)/2-1] + ratios[len(ratios)/2]) / 2
}

// ratio of the medians of a and b.
func (r *results) ratio(a, b string) float64 {
	mb := median(r.samples[b])
	if mb == 0 {
		return 0
	}
	return float64(median(r.samples[a])) / float64(mb)
}

func fmtDur(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// verdict says whether ratio meets goal (at most).
func verdict(ratio, goal float64) string {
	if ratio <= goal {
		return "meets"
	}
	return "misses"
}

// row is one line of the measurement table.
func (r *results) row(key, label string) string {
	s := r.samples[key]
	lo, hi := span(s)
	return fmt.Sprintf("| %s | %d | %s | %s | %s |", label, len(s), fmtDur(median(s)), fmtDur(lo), fmtDur(hi))
}

func (r *results) raw(key string) string {
	var ms []string
	for _, d := range r.samples[key] {
		ms = append(ms, fmt.Sprint(d.Milliseconds()))
	}
	return strings.Join(ms, " ")
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
	p("Written by `go run ./bench` on %s (repository at %s). See [README.md](README.md) for what is measured and how.",
		b.started.UTC().Format("2006-01-02 15:04 UTC"), commit)
	p("")
	p("- Machine: %d cores (%s), %s of memory, Linux %s.", r.cores, r.cpu, r.memory, r.kernel)
	p("- Versions: Docker %s (storage driver %s), compose %s, %s; %s.", r.engine, r.driver, r.compose, r.goVersion, buildx)
	p("- Load average (1, 5, 15 min) at the start: %s; at the end: %s. Other work on the machine shows in the ranges below.", r.loadStart, r.loadEnd)
	p("- Runs: N=%d rounds of the build measurements (each round: every variant cold, then warm, rotating which goes first); N=%d of each stack:ps measurement, interleaved; N=%d rounds of the CI cache measurement; N=%d rounds of the deploy measurement (each: every variant to the new version and back). Every baseline ran in the same invocation. Whole benchmark: %s.",
		b.rounds, b.psRuns, b.ciRounds, b.deployRounds, r.total.Round(time.Second))
	if b.note != "" {
		p("- Note: %s", b.note)
	}
	p("")
	p("## Goals")
	p("")
	p("| comparison (tool / raw) | ratio of medians | goal | | median of paired ratios (same round) |")
	p("|---|---|---|---|---|")
	psR, warmR, coldR := r.ratio("ps-tool", "ps-raw"), r.ratio("warm-tool", "warm-raw"), r.ratio("cold-tool", "cold-raw")
	p("| (a) `./dtx stack:ps debug` / the `docker compose … ps` it runs | %.2f | ≤ 1.25 | %s | %.2f |", psR, verdict(psR, 1.25), r.pairedRatio("ps-tool", "ps-raw"))
	p("| (b) warm `./dtx docker:build` / raw `docker compose build` of the same definition | %.2f | ≤ 1.10 | %s | %.2f |", warmR, verdict(warmR, 1.10), r.pairedRatio("warm-tool", "warm-raw"))
	p("| (c) cold `./dtx docker:build` / raw cold `docker compose build` of the same definition | %.2f | ≤ 1.05 | %s | %.2f |", coldR, verdict(coldR, 1.05), r.pairedRatio("cold-tool", "cold-raw"))
	if b.ciRounds > 0 {
		ciR := r.ratio("ci-cache", "ci-nocache")
		p("| (d) CI: `CACHE_FROM=registry ./dtx docker:build` / `./dtx docker:build`, both on a builder emptied of the build | %.2f | every RUN step from the cache (%s) | %s | %.2f |",
			ciR, r.steps("ci-cache"), ciVerdict(r.ciSteps["ci-cache"]), r.pairedRatio("ci-cache", "ci-nocache"))
	}
	if b.deployRounds > 0 {
		dR := r.ratio("deploy-tool", "deploy-raw")
		p("| (e) `./dtx prod:deploy` / a plain `docker compose … up --detach --wait` of the same change, under load: deploy time | %.2f | none: the price of (f) | | %.2f |", dR, r.pairedRatio("deploy-tool", "deploy-raw"))
		tf, ts := r.failedTotal("deploy-tool")
		rf, rs := r.failedTotal("deploy-raw")
		p("| (f) failed requests during `./dtx prod:deploy` (the plain up's: %d of %d) | %d of %d | 0 | %s | |", rf, rs, tf, ts, failVerdict(tf, len(r.loads["deploy-tool"])))
	}
	p("")
	p("## Builds of the five images")
	p("")
	p("The raw baseline is the command the tool runs, fed the same definition (`images.Plan`, checked against the tool's own dry run before anything was measured):")
	p("")
	p("    %s", r.buildCommand)
	p("")
	p("Cold: before each cold run the images were removed (by tag) and a new comment line was appended to the first file each Dockerfile copies (`frontend/server.mjs`, `backend/server.py`, `nginx/nginx.conf`), so that every step after `FROM` missed the cache; the engine's build cache is shared and was not pruned (see [README.md](README.md)). After each run the benchmark checked that every cold run rebuilt all %d images (their creation times) and every warm run none (their IDs unchanged); it stops otherwise. Warm: the same command again right away, nothing changed. Pairs whose warm run rebuilt something (a cache record of the cold build gone in between, on this shared engine) were done again: %d.", len(b.plan.Images), r.retried)
	p("")
	p("| measurement | N | median | min | max |")
	p("|---|---|---|---|---|")
	p("%s", r.row("cold-tool", "cold: `./dtx docker:build`"))
	p("%s", r.row("cold-raw", "cold: raw `docker compose build`"))
	p("%s", r.row("warm-tool", "warm: `./dtx docker:build`"))
	p("%s", r.row("warm-raw", "warm: raw `docker compose build`"))
	p("")
	p("The tool minus the raw build (median minus median): cold %s, warm %s. The tool's part of a build: reading the env files, loading nothing through compose-go (docker:build needs no compose file), checking each Dockerfile's stages, and one `docker image inspect` of the five images for its summary.",
		signed(median(r.samples["cold-tool"])-median(r.samples["cold-raw"])), signed(median(r.samples["warm-tool"])-median(r.samples["warm-raw"])))
	p("")
	p("## A cheap target: `stack:ps debug`")
	p("")
	p("With the debug stack up (%d containers), the tool's `stack:ps debug` against the command it prints and runs, replayed verbatim:", r.psContainers)
	p("")
	p("    %s", r.psCommand)
	p("")
	p("| measurement | N | median | min | max |")
	p("|---|---|---|---|---|")
	p("%s", r.row("ps-tool", "`./dtx stack:ps debug`"))
	p("%s", r.row("ps-raw", "`docker compose … ps` (the command above)"))
	p("%s", r.row("ps-way-in", "`./dtx -l` (the way in alone: no target, no compose)"))
	p("")
	p("The tool adds %s per call (median minus median). The way in alone takes %s: `./dtx` (a shell script that execs the launcher), the launcher (a stat of each source against its index, then exec), and the start of the compiled magefiles, whose package initialisation took %s in one `GODEBUG=inittrace=1 ./dtx -l` (costliest: %s), for every target, whether it loads a compose file or not. The target itself reads the env files and runs compose: stack:ps loads the compose file through compose-go only to explain a failure.",
		signed(median(r.samples["ps-tool"])-median(r.samples["ps-raw"])), fmtDur(median(r.samples["ps-way-in"])), fmtDur(r.inits.total), r.inits.topList())
	if b.ciRounds > 0 {
		p("")
		p("## CI: a build on an empty builder, with and without the registry's cache")
		p("")
		p("Each round appended new comment lines (as for a cold build), built with `./dtx docker:build` and pushed with `./dtx docker:push` to the registry path of the benchmark: the previous CI run. Then it emptied the builder of that build (its images removed by tag, and the build-cache records that appeared during it removed one by one with `docker builder prune --filter id=^ID$`: %d records in all) and built the same inputs twice, in rotating order, emptying the builder after each: with `CACHE_FROM=registry` (the definition gets `cache_from: REGISTRY/<image>:latest`; every image carries its cache inline) and without. RUN steps that came from a cache, counted from compose's plain progress (`#12 CACHED`), per round:", r.pruned)
		p("")
		p("| measurement | N | median | min | max | RUN steps from a cache |")
		p("|---|---|---|---|---|---|")
		p("%s %s |", r.row("ci-cache", "`CACHE_FROM=registry ./dtx docker:build`"), r.steps("ci-cache"))
		p("%s %s |", r.row("ci-nocache", "`./dtx docker:build`, no cache"), r.steps("ci-nocache"))
		p("")
		p("The starters have one RUN step (nginx's `chmod`/`mkdir`); the website's apps add theirs (`npm ci`, `pip install`), and there a step that comes from the cache saves what the step costs, less pulling its layer. Inline cache covers the layers of the image built (mode=min): the steps of a stage the image does not contain, such as a build stage's `npm ci`, are not in it (see [Build cache in CI](../docs/builds.md#build-cache-in-ci)).")
	}
	if b.deployRounds > 0 {
		b.deployReport(p)
	}
	p("")
	p("## How to read these figures")
	p("")
	p("Each figure is the wall time of one whole command, start to exit, as seen by the benchmark (Go's monotonic clock). Ratios divide medians of the same run, so the machine's state at that moment cancels out as far as it can; absolute times from another run or machine are not comparable. A ratio below 1 means the tool was faster. On a shared 2-core machine, treat differences under about 10 %% as noise, and look at min and max before trusting a median.")
	p("")
	p("## Raw samples (ms, in run order)")
	p("")
	p("| measurement | samples |")
	p("|---|---|")
	for _, k := range []string{"cold-tool", "cold-raw", "warm-tool", "warm-raw", "ps-tool", "ps-raw", "ps-way-in", "ci-cache", "ci-nocache", "deploy-tool", "deploy-raw"} {
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
		return "not measured"
	}
	for _, c := range counts {
		if c.total == 0 || c.cached != c.total {
			return "misses"
		}
	}
	return "meets"
}

func (c initCost) topList() string {
	var parts []string
	for _, p := range c.top {
		parts = append(parts, fmt.Sprintf("%s %s", p.pkg, fmtDur(p.took)))
	}
	if len(parts) == 0 {
		return "none reported"
	}
	return strings.Join(parts, ", ")
}

// failVerdict says whether no request failed in runs deploys.
func failVerdict(failed, runs int) string {
	switch {
	case runs == 0:
		return "not measured"
	case failed == 0:
		return "meets"
	}
	return "misses"
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
	p("| deploy | N | median | min | max | failed requests: median | min | max | all runs |")
	p("|---|---|---|---|---|---|---|---|---|")
	p("%s %s |", r.row("deploy-tool", "`./dtx prod:deploy -version=V`"), r.failedRow("deploy-tool"))
	p("%s %s |", r.row("deploy-raw", "plain `VERSION=V docker compose … up --detach --wait`"), r.failedRow("deploy-raw"))
	p("")
	p("`./dtx prod:deploy` took %.2f× the plain up's time (ratio of medians; median minus median: %s) for %s failed requests instead of %s (medians per deploy); goal: 0 failed requests. The load only ever talks to nginx, which answers a failed upstream with a 502: a connection error (refused, or closed before an answer: `EOF`) is nginx itself going away while it is recreated; a 5xx is nginx answering while the container behind it is replaced.",
		r.ratio("deploy-tool", "deploy-raw"), signed(median(r.samples["deploy-tool"])-median(r.samples["deploy-raw"])),
		medianOf(r.loads["deploy-tool"]), medianOf(r.loads["deploy-raw"]))
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
