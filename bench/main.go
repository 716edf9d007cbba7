// Command bench measures the tool against the docker compose commands it
// runs, on a real engine, and writes bench/RESULTS.md. Run it from the
// repository root:
//
//	go run ./bench            # about 5 minutes on 2 cores
//	go run ./bench -n 3       # fewer rounds
//	go run ./bench -deploys 0 # without the deploys under load
//	go run ./bench -repo ../old -out /tmp/before.md  # another checkout
//	go run ./bench -before /tmp/before.md            # and the two side by side
//
// It copies the project as git has it into a work folder, with a compose
// project prefix and registry path of its own (dtxbench<pid>) and free ports,
// and runs `./dtx` there: the README's way in. The images, environments,
// Dockerfiles and the build definition come from internal/stack and
// internal/images, the ports from internal/freeport; every command runs
// through internal/runner. See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/freeport"
	"github.com/kettleofketchup/dtx_website/internal/images"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/testsite"
)

// config is what the flags set.
type config struct {
	rounds, psRuns, ciRounds int
	deployRounds             int
	out                      string
	keep                     bool
	website                  bool // add the website's worker, beat and bot (internal/testsite)
	cluster                  bool // measure the release stack on a three-node swarm (internal/testcluster)
	onlyCluster              bool // that measurement alone
	note                     string
	repoDir                  string // the checkout measured
	beforeFile               string // an earlier run's results, for the before and after table
}

func main() {
	var c config
	flag.IntVar(&c.rounds, "n", 7, "rounds of the build measurements (each: every variant cold, then warm)")
	flag.IntVar(&c.psRuns, "ps", 30, "runs of each stack:ps measurement")
	flag.IntVar(&c.ciRounds, "ci", 3, "rounds of the CI cache measurement (0 skips it: it removes build-cache records, see bench/README.md)")
	flag.IntVar(&c.deployRounds, "deploys", 3, "rounds of the deploy measurement under load (each: every variant to the new version and back; 0 skips it)")
	flag.StringVar(&c.out, "out", "bench/RESULTS.md", "where to write the results")
	flag.BoolVar(&c.website, "website", true, "add the website's own services to the site: a worker and a beat on the backend image and a bot on an image of its own built from the repository root with a second build context (internal/testsite)")
	flag.BoolVar(&c.cluster, "cluster", false, "measure the release stack on a three-node swarm of this machine (internal/testcluster; root; about 5 minutes): rolling updates, a drain, a node lost, under load at every node")
	flag.BoolVar(&c.onlyCluster, "only-cluster", false, "the three-node swarm's measurement alone (implies -cluster): its table to -out")
	flag.BoolVar(&c.keep, "keep", false, "keep the work folder and its log (a failed run always keeps them)")
	flag.StringVar(&c.note, "note", "", "a sentence added to the results (about the machine, say)")
	flag.StringVar(&c.repoDir, "repo", ".", "the checkout to measure (another one, an earlier commit say, measured by this benchmark)")
	flag.StringVar(&c.beforeFile, "before", "", "the results of an earlier run (-out of a run with -repo, say): a table of each goal's figures before and after")
	flag.Parse()
	if c.rounds < 1 || c.psRuns < 1 || c.ciRounds < 0 || c.deployRounds < 0 {
		fmt.Fprintln(os.Stderr, "bench: -n and -ps take a positive number, -ci and -deploys zero or more")
		os.Exit(2)
	}
	c.cluster = c.cluster || c.onlyCluster
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected argument %q: every setting is a flag (go run ./bench -h)\n", flag.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench is one benchmark run: its site, its environment and its samples.
type bench struct {
	config
	repo, root string         // the repository, and the site copy where ./dtx runs
	prefix     string         // compose project prefix and registry path: dtxbench<pid>
	site       *testsite.Site // the copy and its variables
	// releaseServices is how many services the release stack runs.
	releaseServices int
	vars            map[string]string // site.Vars
	plan            images.Plan       // the build definition the tool builds
	pushed          bool              // the CI or deploy measurement pushed to the registry
	pushedTags      []string          // the version tags the deploy measurement pushed, besides latest
	log             io.Writer         // every command, its output, into the work folder
	// timings is the DTX_TIMINGS file of every ./dtx call: the commands
	// the tool ran, with their wall times (one path for all: the tool's
	// catalogue cache keys on the whole environment).
	timings string
	started time.Time
	results results
}

func run(ctx context.Context, c config) (err error) {
	here, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(here, "bench", "main.go")); err != nil {
		return errors.New("run it from the repository root: go run ./bench")
	}
	repo, err := filepath.Abs(c.repoDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(repo, "dtx")); err != nil {
		return fmt.Errorf("-repo %s: no ./dtx there: give the root of a checkout of the project", c.repoDir)
	}
	b := &bench{config: c, repo: repo, prefix: testsite.Prefix(testsite.Bench), started: time.Now()}
	if c.beforeFile != "" { // read first: a bad file fails before anything runs
		text, err := os.ReadFile(c.beforeFile)
		if err != nil {
			return fmt.Errorf("-before: %w", err)
		}
		if b.results.before, err = parseRawSamples(string(text)); err != nil {
			return fmt.Errorf("-before %s: %w", c.beforeFile, err)
		}
		b.results.beforeWhat = runOf(string(text))
	}
	work, err := os.MkdirTemp("", b.prefix+".")
	if err != nil {
		return err
	}
	b.timings = filepath.Join(work, "timings.tsv")
	logFile, err := os.Create(filepath.Join(work, "bench.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	b.log = logFile
	if err := b.preflight(ctx); err != nil {
		return err
	}
	testsite.SweepStale(testsite.Bench, say)
	if err := b.makeSite(filepath.Join(work, "site")); err != nil {
		return err
	}
	defer func() {
		b.cleanup()
		if c.keep || err != nil { // a failure keeps its log
			fmt.Fprintf(os.Stderr, "bench: kept %s (log: bench.log)\n", work)
		} else {
			os.RemoveAll(work)
		}
	}()
	say("site %s (a copy of %s), compose project prefix and registry path %s", b.root, repo, b.prefix)
	stopSampling := b.sampleLoad()
	defer stopSampling()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"the tool's first build (not measured)", b.warmUp},
		{"the same definition", b.checkDefinition},
		{"builds, cold and warm", b.builds},
		{"stack:ps", b.ps},
		{"CI cache", b.ciCache},
		{"deploys under load", b.deploys},
		{"backups", b.backups},
		{"a three-node swarm", b.clusterMeasure},
		{"the browser tests' runner image", b.measureRunnerImage},
	}
	if c.onlyCluster {
		steps = steps[:1]
		steps = append(steps, struct {
			name string
			fn   func(context.Context) error
		}{"a three-node swarm", b.clusterMeasure})
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		say("%s…", s.name)
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w (log: %s)", s.name, err, filepath.Join(work, "bench.log"))
		}
	}
	b.results.total = time.Since(b.started)
	b.results.loadEnd = loadAverage()
	stopSampling()
	out := c.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(here, out)
	}
	text := b.report
	if c.onlyCluster {
		text = b.clusterReport
	}
	if err := os.WriteFile(out, []byte(text()), 0o644); err != nil {
		return err
	}
	say("wrote %s", out)
	return nil
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// preflight reads the machine and the versions, and fails with one line
// when the engine, compose or the base images are not there.
func (b *bench) preflight(ctx context.Context) error {
	r := &b.results
	r.cores = runtime.NumCPU()
	r.loadStart = loadAverage()
	r.cpu = firstMatch("/proc/cpuinfo", "model name")
	r.memory = firstMatch("/proc/meminfo", "MemTotal")
	var kb float64
	if _, err := fmt.Sscanf(r.memory, "%f kB", &kb); err == nil {
		r.memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
	}
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		r.kernel = strings.TrimSpace(string(k))
	}
	q := func(name string, args ...string) (string, error) {
		out, err := b.runner(nil, io.Discard).Query(ctx, runner.Command{Name: name, Args: args})
		return strings.TrimSpace(out), err
	}
	if err := testsite.CheckEngine(ctx); err != nil {
		return err
	}
	var err error
	if r.engine, err = q("docker", "version", "--format", "client {{.Client.Version}}, engine {{.Server.Version}}"); err != nil {
		return err
	}
	if r.driver, err = q("docker", "info", "--format", "{{.Driver}}"); err != nil {
		return err
	}
	if r.compose, err = q("docker", "compose", "version", "--short"); err != nil {
		return err
	}
	if r.goVersion, err = q("go", "env", "GOVERSION"); err != nil {
		return fmt.Errorf("go is not on PATH: %w", err)
	}
	r.buildx = images.BuildxInstalled(os.LookupEnv)
	for _, ref := range testsite.BaseImages() {
		if _, err := q("docker", "image", "inspect", "--format", "{{.Id}}", ref); err != nil {
			if _, perr := q("docker", "pull", "-q", ref); perr != nil {
				return fmt.Errorf("base image %s: not on the engine and not pullable (.ci/engine.sh up makes dtx-base:bookworm): %w", ref, perr)
			}
		}
	}
	return nil
}

// loadEvery is how often the load average is sampled during the run.
const loadEvery = 5 * time.Second

// sampleLoad records the 1-minute load average every loadEvery until the
// returned function is called (once or more).
func (b *bench) sampleLoad() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(loadEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				var one float64
				if _, err := fmt.Sscanf(loadAverage(), "%g", &one); err == nil {
					b.results.loadDuring = append(b.results.loadDuring, one)
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done); <-finished })
	}
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], ", ")
	}
	return "unknown"
}

// firstMatch is the value of the first "key : value" line of a /proc file.
func firstMatch(path, key string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// makeSite makes the site (testsite.Make: the project as git has it, its
// own registry path, project prefix and VERSION, the base images of the
// process) in root, and adds what the benchmark wants besides: free ports
// and compose's plain progress.
func (b *bench) makeSite(root string) error {
	site, err := testsite.Make(b.repo, root, b.prefix)
	if err != nil {
		return err
	}
	b.site, b.root, b.vars = site, site.Root, site.Vars
	if b.website {
		// The services the website runs beside the starters', declared
		// in the compose files alone: the builds and deploys measured are
		// those of a site like the real one.
		if err := site.AddWorkers(); err != nil {
			return err
		}
		if err := site.AddBot(); err != nil {
			return err
		}
	}
	// Compose's plain progress, for every build alike: it shows which
	// steps ran and which came from a cache.
	b.vars["BUILDKIT_PROGRESS"] = "plain"
	// Whatever the caller's shell has: each run says what it wants.
	b.vars["CACHE_FROM"], b.vars["DRY_RUN"] = "", ""
	for _, k := range []string{"HTTP_PORT", "HTTPS_PORT"} {
		p, err := freeport.Take()
		if err != nil {
			return err
		}
		b.vars[k] = fmt.Sprint(p)
	}
	// The definition docker:build generates for these variables; checked
	// against the tool's own dry run before anything is measured.
	// The images the site's compose files build, read as docker:build reads
	// them (with the release environment's values).
	ses := session.New(session.Config{Root: b.root, Environ: b.site.Environ()})
	release, err := ses.Open("release")
	if err != nil {
		return err
	}
	if model, err := release.Load(context.Background()); err == nil {
		b.releaseServices = len(model.Services)
	}
	all, err := images.Catalogue(context.Background(), ses, release.Env)
	if err != nil {
		return err
	}
	b.plan = images.Plan{Images: all, Registry: b.vars["REGISTRY"], Version: b.vars["VERSION"], Bake: b.results.buildx}
	return nil
}

// runner runs commands with the site's environment (ours before the site
// is made: the preflight), their output to out and to the log.
func (b *bench) runner(extra []string, out io.Writer) *runner.Runner {
	w := io.MultiWriter(out, b.log)
	if b.timings != "" {
		extra = append([]string{session.TimingsVar + "=" + b.timings}, extra...)
	}
	env := append(os.Environ(), extra...)
	if b.site != nil {
		env = b.site.Environ(extra...)
	}
	return &runner.Runner{Log: b.log, Stdout: w, Stderr: w, Environ: env}
}

// dtx is `./dtx args…` in the site.
func (b *bench) dtx(args ...string) runner.Command {
	return runner.Command{Name: "./dtx", Args: args, Dir: b.root}
}

// timed runs c and returns its wall time and its output.
func (b *bench) timed(ctx context.Context, c runner.Command, extra ...string) (time.Duration, string, error) {
	var out strings.Builder
	start := time.Now()
	err := b.runner(extra, &out).Run(ctx, c)
	took := time.Since(start)
	if err != nil {
		return took, out.String(), fmt.Errorf("%s: %w\n%s", c, err, tail(out.String(), 15))
	}
	return took, out.String(), nil
}

// timedTool runs the ./dtx call c like timed, and also returns the wall
// time of the commands the tool ran in it (from its DTX_TIMINGS lines,
// summed): what it took beyond them is the tool's own part. commands is
// 0 when the tool recorded none (a checkout from before DTX_TIMINGS).
func (b *bench) timedTool(ctx context.Context, c runner.Command, extra ...string) (took, commands time.Duration, out string, err error) {
	if _, err := b.commandsTime(); err != nil {
		return 0, 0, "", err
	}
	took, out, err = b.timed(ctx, c, extra...)
	if err != nil {
		return took, 0, out, err
	}
	commands, err = b.commandsTime()
	return took, commands, out, err
}

// commandsTime sums the wall times the DTX_TIMINGS file holds and empties
// it.
func (b *bench) commandsTime() (time.Duration, error) {
	data, err := os.ReadFile(b.timings)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		fields := strings.SplitN(line, "\t", 3)
		us, err := strconv.ParseInt(fields[min(1, len(fields)-1)], 10, 64)
		if len(fields) != 3 || err != nil {
			return 0, fmt.Errorf("%s: a line that is not DTX_TIMINGS's: %q", b.timings, line)
		}
		sum += time.Duration(us) * time.Microsecond
	}
	return sum, os.Truncate(b.timings, 0)
}

// must runs c for its effect, not measured.
func (b *bench) must(ctx context.Context, c runner.Command, extra ...string) (string, error) {
	_, out, err := b.timed(ctx, c, extra...)
	return out, err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// warmUp builds the tool in the site (./dtx's first run) and the images
// once, so that every measured run finds the tool compiled and the base
// stages cached, as on a developer's machine.
func (b *bench) warmUp(ctx context.Context) error {
	if _, err := b.must(ctx, b.dtx("-l")); err != nil {
		return err
	}
	_, err := b.must(ctx, b.dtx("docker:build"))
	return err
}

// checkDefinition makes sure the raw baseline builds what the tool builds:
// the definition of b.plan is the one the tool's dry run prints, and the
// command is the one it runs.
func (b *bench) checkDefinition(ctx context.Context) error {
	out, err := b.must(ctx, b.dtx("docker:build"), "DRY_RUN=1")
	if err != nil {
		return err
	}
	cmd := b.plan.BuildCommand(b.root)
	wantLine := "[dry-run] " + cmd.String()
	if !strings.Contains(out, wantLine+"\n") {
		return fmt.Errorf("the tool's dry run does not run %q:\n%s", wantLine, out)
	}
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), "") }
	if !strings.Contains(squeeze(out), squeeze(string(b.plan.Definition(b.root, nil)))) {
		return fmt.Errorf("the tool's build definition differs from images.Plan's:\n%s\nwant\n%s", out, b.plan.Definition(b.root, nil))
	}
	b.results.buildCommand = cmd.String()
	return nil
}
