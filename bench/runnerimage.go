package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/browsertest"
	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// runnerImage is the image the browser tests run in (`./dtx test:e2e`),
// and its size as the engine reports it: what a machine pulls or builds
// before its first browser test.
type runnerImage struct {
	ref  string
	size int64 // bytes; 0 when not on the engine
}

// measureRunnerImage reads the size of browsertest's default runner image
// from the engine. It pulls nothing: an image that is not there is said
// so in the report.
func (b *bench) measureRunnerImage(ctx context.Context) error {
	r := &b.results.runner
	r.ref = browsertest.DefaultImage
	out, err := b.runner(nil, io.Discard).Query(ctx, runner.Command{Name: "docker", Args: []string{"image", "inspect", "--format", "{{.Size}}", r.ref}})
	if err != nil {
		say("%s is not on the engine: its size is not measured", r.ref)
		return nil
	}
	size, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return fmt.Errorf("docker image inspect %s: size %q: %w", r.ref, out, err)
	}
	r.size = size
	return nil
}

func (r runnerImage) text() string {
	if r.size == 0 {
		return fmt.Sprintf("`%s` (browsertest.DefaultImage) was not on the engine: its size is not measured (the benchmark pulls nothing for it).", r.ref)
	}
	return fmt.Sprintf("`%s` (browsertest.DefaultImage): %.0f MB, as the engine reports it (`docker image inspect --format '{{.Size}}'`, uncompressed): what a machine pulls or builds before its first `./dtx test:e2e`.", r.ref, float64(r.size)/1e6)
}
