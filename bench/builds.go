package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/images"
	"github.com/kettleofketchup/dtx_website/internal/inittrace"
	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// commentStarts are how a comment line starts in a file, by its
// extension: what the benchmark may append to a file a Dockerfile copies.
var commentStarts = map[string]string{
	".py": "# ", ".sh": "# ", ".conf": "# ", ".yaml": "# ", ".yml": "# ", ".toml": "# ",
	".mjs": "// ", ".js": "// ", ".cjs": "// ", ".ts": "// ", ".go": "// ", ".css": "/* ",
}

// copyLine is a COPY instruction of a Dockerfile.
var copyLine = regexp.MustCompile(`(?i)^\s*COPY\s+(.+)$`)

// nonceFile is, for an image, the first file its Dockerfile copies from
// its build context that takes a comment line (by its extension), and how
// a comment starts in it. A new comment line in it makes every step from
// that COPY on miss the cache: a cold build without clearing the engine's
// build cache, which is shared (see bench/README.md). The check after
// each cold run (all images rebuilt) says when this finds the wrong file.
func nonceFile(root string, img images.Image) (path, comment string, err error) {
	df := filepath.Join(root, img.Dockerfile(root))
	text, err := os.ReadFile(df)
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(text), "\n") {
		m := copyLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var words []string
		for _, w := range strings.Fields(m[1]) {
			if !strings.HasPrefix(w, "--") {
				words = append(words, w)
			} else if strings.HasPrefix(w, "--from") {
				words = nil // another stage or context: not the build context's
				break
			}
		}
		if len(words) < 2 {
			continue
		}
		src := filepath.Join(img.Build.Context, words[0])
		c, ok := commentStarts[filepath.Ext(src)]
		if info, err := os.Stat(src); ok && err == nil && info.Mode().IsRegular() {
			return src, c, nil
		}
	}
	return "", "", fmt.Errorf("%s copies no file of its context that takes a comment line (%s): the benchmark cannot make its cold build miss the cache", img.Dockerfile(root), strings.Join(slices.Sorted(maps.Keys(commentStarts)), " "))
}

// freshInputs appends a new comment line to each image's nonce file.
func (b *bench) freshInputs(tag string) error {
	done := map[string]bool{}
	for _, img := range b.plan.Images {
		path, comment, err := nonceFile(b.root, img)
		if err != nil {
			return err
		}
		if done[path] {
			continue
		}
		done[path] = true
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "\n%sdtxbench nonce %s %d\n", comment, tag, time.Now().UnixNano())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// imageNames are the names of the plan's images, for the report.
func (b *bench) imageNames() []string {
	var names []string
	for _, img := range b.plan.Images {
		names = append(names, img.Name)
	}
	return names
}

// nonceFiles are the files freshInputs appends to, relative to the site,
// each once, for the report.
func (b *bench) nonceFiles() []string {
	var out []string
	for _, img := range b.plan.Images {
		if path, _, err := nonceFile(b.root, img); err == nil {
			rel, _ := filepath.Rel(b.root, path)
			if !slices.Contains(out, "`"+rel+"`") {
				out = append(out, "`"+rel+"`")
			}
		}
	}
	return out
}

// refs are every tag of every image of the plan, and of the versions the
// deploy measurement built.
func (b *bench) refs() []string {
	var refs []string
	for _, img := range b.plan.Images {
		refs = append(refs, b.plan.Refs(img)...)
		for _, tag := range b.pushedTags {
			refs = append(refs, img.Ref(b.plan.Registry, tag))
		}
	}
	return refs
}

// removeImages removes the plan's images by tag (never by ID): what a
// cold build starts without. A missing image is no error.
func (b *bench) removeImages(ctx context.Context) {
	for _, ref := range b.refs() {
		_ = b.runner(nil, io.Discard).Run(ctx, runner.Command{Name: "docker", Args: []string{"image", "rm", ref}})
	}
}

// rebuilt counts the plan's images created after since.
func (b *bench) rebuilt(ctx context.Context, since time.Time) (int, error) {
	var refs []string
	for _, img := range b.plan.Images {
		refs = append(refs, b.plan.Refs(img)[0])
	}
	out, err := b.runner(nil, io.Discard).Query(ctx, images.InspectCommand(refs...))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		_, created, err := images.ParseInspect(line)
		if err != nil {
			return 0, err
		}
		if !created.Before(since.Add(-time.Second)) { // the engine's clock rounds
			n++
		}
	}
	return n, nil
}

// imageIDs are the IDs of the plan's images, in order: a warm build that
// rebuilt nothing leaves them as they were.
func (b *bench) imageIDs(ctx context.Context) (string, error) {
	var refs []string
	for _, img := range b.plan.Images {
		refs = append(refs, b.plan.Refs(img)[0])
	}
	return b.runner(nil, io.Discard).Query(ctx, runner.Command{Name: "docker", Args: append([]string{"image", "inspect", "--format", "{{.Id}}"}, refs...)})
}

// variant is one way of building the images.
type variant struct {
	key, label string
	cmd        func() runner.Command
}

func (b *bench) buildVariants() []variant {
	return []variant{
		{"tool", "`./dtx docker:build`", func() runner.Command { return b.dtx("docker:build") }},
		{"raw", "`docker compose build` of the same definition", func() runner.Command { return b.plan.BuildCommand(b.root) }},
	}
}

// builds measures every variant cold and warm, N rounds, rotating which
// variant goes first, and checks that a cold run built all the images (from
// their creation times) and a warm run none (their IDs stay).
func (b *bench) builds(ctx context.Context) error {
	vs := b.buildVariants()
	for round := 0; round < b.rounds; round++ {
		for i := range vs {
			v := vs[(round+i)%len(vs)]
			for attempt := 1; ; attempt++ {
				cold, warm, err := b.coldWarm(ctx, v, fmt.Sprintf("%s-%d-%d", v.key, round, attempt))
				if errors.Is(err, errWarmRebuilt) && attempt < 3 {
					// On a shared engine a cache record of the cold
					// build may go before the warm one (another
					// client's prune, BuildKit's garbage collection):
					// that warm run measured a rebuild, so the pair
					// is done again.
					b.results.retried++
					say("round %d/%d %s: %v; again", round+1, b.rounds, v.key, err)
					continue
				}
				if err != nil {
					return err
				}
				b.results.add("cold-"+v.key, cold)
				b.results.add("warm-"+v.key, warm)
				say("round %d/%d %s: cold %s, warm %s", round+1, b.rounds, v.key, fmtDur(cold), fmtDur(warm))
				break
			}
		}
	}
	return nil
}

var errWarmRebuilt = errors.New("the warm build changed the images")

// coldWarm builds with v from fresh inputs (cold), then again (warm).
func (b *bench) coldWarm(ctx context.Context, v variant, nonce string) (cold, warm time.Duration, err error) {
	b.removeImages(ctx)
	if err := b.freshInputs(nonce); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	var commands time.Duration
	if cold, commands, _, err = b.timedTool(ctx, v.cmd()); err != nil {
		return 0, 0, err
	}
	coldCommands := commands
	n := len(b.plan.Images)
	if got, err := b.rebuilt(ctx, start); err != nil || got != n {
		return 0, 0, fmt.Errorf("cold %s: %d of %d images rebuilt (%v): the nonce files no longer reach every image", v.key, got, n, err)
	}
	ids, err := b.imageIDs(ctx)
	if err != nil {
		return 0, 0, err
	}
	if warm, commands, _, err = b.timedTool(ctx, v.cmd()); err != nil {
		return 0, 0, err
	}
	again, err := b.imageIDs(ctx)
	if err != nil {
		return 0, 0, err
	}
	if again != ids {
		return 0, 0, errWarmRebuilt
	}
	if v.key == "tool" && coldCommands > 0 && commands > 0 {
		// The commands the tool ran in the same calls: the raw baseline
		// of the same run (see goal.commands).
		b.results.add("cold-commands", coldCommands)
		b.results.add("warm-commands", commands)
	}
	return cold, warm, nil
}

// ps measures `./dtx stack:ps debug` against the `docker compose … ps` it
// prints and runs, replayed verbatim, with the debug stack up; and, for
// launcherPackage is the package whose initialisation is the tool's check
// of itself (internal/launcher's init).
const launcherPackage = "github.com/kettleofketchup/dtx_website/internal/launcher"

// where the time goes, `./dtx -l`: the way in alone (the script, the
// launcher, the tool's start), no target; and the tool's package
// initialisation, from `GODEBUG=inittrace=1 ./dtx -l` (its wall time,
// slowed by the trace's printing, is not a sample). All four interleave.
func (b *bench) ps(ctx context.Context) error {
	if _, err := b.must(ctx, b.dtx("stack:up", "debug")); err != nil {
		return err
	}
	out, err := b.must(ctx, b.dtx("stack:ps", "debug"))
	if err != nil {
		return err
	}
	var raw []string
	for _, line := range strings.Split(out, "\n") {
		if cmd, ok := strings.CutPrefix(line, "+ "); ok {
			if strings.ContainsAny(cmd, `'"\`) {
				return fmt.Errorf("cannot replay %q: it has quotes", cmd)
			}
			raw = strings.Fields(cmd)
		}
	}
	if len(raw) < 2 || raw[0] != "docker" {
		return fmt.Errorf("stack:ps printed no docker command:\n%s", out)
	}
	b.results.psCommand = strings.Join(raw, " ")
	b.results.psContainers = strings.Count(out, "Up ")
	rawCmd := runner.Command{Name: raw[0], Args: raw[1:], Dir: b.root}
	vs := []struct {
		key   string
		cmd   runner.Command
		extra []string
	}{
		{"ps-tool", b.dtx("stack:ps", "debug"), nil},
		{"ps-raw", rawCmd, nil},
		{"ps-way-in", b.dtx("-l"), nil},
		{"init", b.dtx("-l"), []string{"GODEBUG=inittrace=1"}},
	}
	for round := 0; round < b.psRuns; round++ {
		for i := range vs {
			v := vs[(round+i)%len(vs)]
			took, commands, out, err := b.timedTool(ctx, v.cmd, v.extra...)
			if err != nil {
				return err
			}
			if v.key == "ps-tool" && commands > 0 {
				b.results.add("ps-commands", commands)
			}
			if v.key != "init" {
				b.results.add(v.key, took)
				continue
			}
			// The tool's trace, the last one: the launcher's comes first.
			t, err := inittrace.Parse(out)
			if err != nil {
				return fmt.Errorf("GODEBUG=inittrace=1 ./dtx -l: %w", err)
			}
			// The tool checks itself against the sources first thing, in
			// the launcher package's initialisation: that is the way in's
			// work (g), reported apart from the packages' own.
			t, check := t.Without(launcherPackage)
			b.results.add("init", t.Clock())
			b.results.add("init-check", check.Clock)
			b.results.initTrace = t
		}
	}
	say("stack:ps: tool %s, raw %s, the way in %s, package initialisation %s, the tool's check of itself %s (medians)", fmtDur(median(b.results.samples["ps-tool"])), fmtDur(median(b.results.samples["ps-raw"])),
		fmtDur(median(b.results.samples["ps-way-in"])), fmtDur(median(b.results.samples["init"])), fmtDur(median(b.results.samples["init-check"])))
	_, err = b.must(ctx, b.dtx("stack:down", "debug"))
	return err
}

// cleanup takes down the site's stacks and removes its images by name
// (testsite's Cleanup), and deletes what the CI and deploy measurements
// pushed from the registry.
func (b *bench) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if b.site != nil {
		b.site.Cleanup(say)
	}
	if b.pushed {
		b.deletePushed(ctx)
	}
}
