package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/browsertest"
	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// runnerBefore is the "before" of the runner image: the Chromium runner
// test:e2e had before it ran Playwright Test (playwright-core, Debian's
// chromium and npm in one stage), built on dtx-base:bookworm and measured
// with `docker image inspect --format '{{.Size}}'` on 2026-12-07. It cannot
// be measured again here: its Dockerfile is gone.
const (
	runnerBefore     int64 = 1_372_677_395
	runnerBeforeWhat       = "the earlier Chromium runner (playwright-core, Debian's npm left in the image) on `dtx-base:bookworm`, measured 2026-12-07"
)

// runnerImage is the Playwright runner of `./dtx test:e2e` (test/browser),
// built as test:e2e builds it, and its size as the engine reports it: what
// a machine builds before its first Playwright run.
type runnerImage struct {
	ref       string
	base      string        // BROWSER_BASE_IMAGE it was built on; "" is the compose file's default
	build     time.Duration // the build's wall time (from the engine's cache when it has the layers)
	size      int64         // bytes; 0 when not measured
	baseSize  int64         // the base image's bytes; 0 when not known
	notBuilt  string        // why it was not measured
	measuring bool          // the step ran
}

// measureRunnerImage builds the Playwright runner with the command test:e2e
// runs (browsertest's BuildRunner: docker compose -f test/browser/compose.yaml
// build), on the site's REGISTRY and BROWSER_BASE_IMAGE, and reads its size
// and its base's. The image is the site's, removed with it. A build that
// fails (a base the engine cannot pull) is said in the report, not fatal.
func (b *bench) measureRunnerImage(ctx context.Context) error {
	r := &b.results.runner
	r.measuring = true
	cfg := browsertest.Config{Registry: b.vars["REGISTRY"], BaseImage: b.vars[browsertest.BaseImageVar]}
	r.ref, r.base = cfg.Registry+"/"+browsertest.RunnerImage+":latest", cfg.BaseImage
	start := time.Now()
	if err := b.runner(b.site.Environ(), io.Discard).Run(ctx, cfg.BuildRunner(b.root)); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.notBuilt = err.Error()
		say("the Playwright runner did not build: %v", err)
		return nil
	}
	r.build = time.Since(start)
	size, err := b.imageSize(ctx, r.ref)
	if err != nil {
		return err
	}
	r.size = size
	base := r.base
	if base == "" {
		base = "debian:bookworm-slim"
	}
	if s, err := b.imageSize(ctx, base); err == nil {
		r.baseSize = s
	}
	say("the Playwright runner: %.0f MB (before: %.0f MB), built in %s", float64(r.size)/1e6, float64(runnerBefore)/1e6, fmtDur(r.build))
	return nil
}

// imageSize is an image's uncompressed size as the engine reports it.
func (b *bench) imageSize(ctx context.Context, ref string) (int64, error) {
	out, err := b.runner(nil, io.Discard).Query(ctx, runner.Command{Name: "docker", Args: []string{"image", "inspect", "--format", "{{.Size}}", ref}})
	if err != nil {
		return 0, err
	}
	size, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("docker image inspect %s: size %q: %w", ref, out, err)
	}
	return size, nil
}

func mb(bytes int64) string { return fmt.Sprintf("%.0f MB", float64(bytes)/1e6) }

// lines is the report's section: before and after, the base, what the
// runner adds to it.
func (r runnerImage) lines() []string {
	if !r.measuring {
		return []string{"Not measured in this run."}
	}
	base := r.base
	if base == "" {
		base = "debian:bookworm-slim"
	}
	if r.size == 0 {
		return []string{fmt.Sprintf("The Playwright runner (`%s`) did not build on `%s`: %s. Before: %s, %s.", r.ref, base, r.notBuilt, mb(runnerBefore), runnerBeforeWhat)}
	}
	out := []string{
		fmt.Sprintf("The Playwright runner of `./dtx test:e2e`, built as test:e2e builds it (`docker compose -f %s build`, %s; from the engine's build cache when it has the layers) on `BROWSER_BASE_IMAGE=%s`; sizes as the engine reports them (`docker image inspect --format '{{.Size}}'`, uncompressed):", browsertest.RunnerCompose, fmtDur(r.build), base),
		"",
		"| image | size |",
		"|---|---|",
		fmt.Sprintf("| before: %s | %s |", runnerBeforeWhat, mb(runnerBefore)),
		fmt.Sprintf("| after: `%s` (Playwright Test, Debian's chromium, no npm or compiler) | %s (%.2f× before) |", r.ref, mb(r.size), float64(r.size)/float64(runnerBefore)),
	}
	if r.baseSize > 0 {
		out = append(out,
			fmt.Sprintf("| its base, `%s` | %s |", base, mb(r.baseSize)),
			fmt.Sprintf("| what the runner adds to its base | %s |", mb(r.size-r.baseSize)))
	}
	return out
}
