package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// ciCache measures what CACHE_FROM=registry buys a builder with an empty
// cache, as a CI runner's: each round builds fresh inputs and pushes them
// (the previous CI run), empties the builder of that build's records and
// images, then builds the same inputs with CACHE_FROM=registry and without
// it, emptying the builder after each, in rotating order. From compose's
// plain progress it counts the RUN steps that came from a cache.
func (b *bench) ciCache(ctx context.Context) error {
	if b.ciRounds == 0 {
		say("skipped (-ci 0)")
		return nil
	}
	vs := []struct {
		key   string
		extra []string
	}{
		{"ci-cache", []string{"CACHE_FROM=registry"}},
		{"ci-nocache", nil},
	}
	for round := 0; round < b.ciRounds; round++ {
		if err := b.freshInputs(fmt.Sprintf("ci-%d", round)); err != nil {
			return err
		}
		before, err := b.cacheRecords(ctx)
		if err != nil {
			return err
		}
		if _, err := b.must(ctx, b.dtx("docker:build")); err != nil {
			return err
		}
		b.pushed = true
		if _, err := b.must(ctx, b.dtx("docker:push")); err != nil {
			return err
		}
		if err := b.emptyBuilder(ctx, before); err != nil {
			return err
		}
		for i := range vs {
			v := vs[(round+i)%len(vs)]
			before, err := b.cacheRecords(ctx)
			if err != nil {
				return err
			}
			took, out, err := b.timed(ctx, b.dtx("docker:build"), v.extra...)
			if err != nil {
				return err
			}
			steps := runSteps(out)
			b.results.add(v.key, took)
			b.results.ciSteps[v.key] = append(b.results.ciSteps[v.key], steps)
			say("CI round %d/%d %s: %s, RUN steps cached %d of %d", round+1, b.ciRounds, v.key, fmtDur(took), steps.cached, steps.total)
			if err := b.emptyBuilder(ctx, before); err != nil {
				return err
			}
		}
	}
	return nil
}

// stepCount is how many RUN steps a build had, and how many of them came
// from a cache.
type stepCount struct{ total, cached int }

var (
	runStep    = regexp.MustCompile(`^#(\d+) \[[^\]]*\] RUN `)
	cachedStep = regexp.MustCompile(`^#(\d+) CACHED\s*$`)
)

// runSteps reads BuildKit's plain progress: "#12 [nginx 5/5] RUN …" names
// a step, "#12 CACHED" says it came from a cache.
func runSteps(progress string) stepCount {
	runs, cached := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(progress, "\n") {
		line = strings.TrimSpace(line)
		if m := runStep.FindStringSubmatch(line); m != nil {
			runs[m[1]] = true
		} else if m := cachedStep.FindStringSubmatch(line); m != nil {
			cached[m[1]] = true
		}
	}
	var c stepCount
	for id := range runs {
		c.total++
		if cached[id] {
			c.cached++
		}
	}
	return c
}

// cacheRecords lists the engine's build-cache records: whether each (by
// ID) is in use by a build that runs now.
func (b *bench) cacheRecords(ctx context.Context) (map[string]bool, error) {
	out, err := b.runner(nil, io.Discard).Query(ctx, runner.Command{Name: "docker",
		Args: []string{"system", "df", "--verbose", "--format", "{{json .BuildCache}}"}})
	if err != nil {
		return nil, err
	}
	return parseRecords(out)
}

// parseRecords reads `docker system df --verbose --format '{{json
// .BuildCache}}'`: ID (with a trailing "*" when in use) and InUse.
func parseRecords(out string) (map[string]bool, error) {
	var recs []struct{ ID, InUse string }
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &recs); err != nil {
		return nil, fmt.Errorf("docker system df: %w", err)
	}
	inUse := map[string]bool{}
	for _, r := range recs {
		inUse[strings.TrimSuffix(r.ID, "*")] = r.InUse == "true" || strings.HasSuffix(r.ID, "*")
	}
	return inUse, nil
}

// emptyBuilder removes the plan's images (by tag) and the build-cache
// records that appeared since before: the builder is then as empty of this
// build as a new CI runner's. docker builder prune can be scoped to one
// record (by ID) but not to a build, so the records to remove are those
// that were not there before and are not in use; a record another build
// made in the same seconds and no longer uses would go too, and cost that
// build one cache miss.
func (b *bench) emptyBuilder(ctx context.Context, before map[string]bool) error {
	b.removeImages(ctx)
	// A record goes once its children went: prune in passes until no new
	// record is left. A record shared with an image outside the benchmark
	// (an end-to-end suite's, built from the same inputs) stays whatever
	// the filter: when a pass removes nothing more, those are said and
	// left.
	var previous []string
	for pass := 0; ; pass++ {
		after, err := b.cacheRecords(ctx)
		if err != nil {
			return err
		}
		var left []string
		for id, inUse := range after {
			// A record in use belongs to a build running now: not ours,
			// ours are done.
			if _, seen := before[id]; !seen && !inUse {
				left = append(left, id)
			}
		}
		if len(left) == 0 {
			return nil
		}
		slices.Sort(left)
		if pass > 0 && slices.Equal(left, previous) {
			say("CI cache: %d build-cache records of the build are shared with images outside the benchmark and stay (docker builder prune leaves them)", len(left))
			b.results.sharedLeft = len(left)
			return nil
		}
		previous = left
		if pass == 4 {
			return fmt.Errorf("%d build-cache records of the benchmark's build are still there after %d passes of docker builder prune", len(left), pass)
		}
		for _, id := range left {
			if err := b.runner(nil, io.Discard).Run(ctx, runner.Command{Name: "docker",
				Args: []string{"builder", "prune", "--force", "--filter", "id=^" + regexp.QuoteMeta(id) + "$"}}); err != nil {
				return err
			}
			if pass == 0 {
				b.results.pruned++
			}
		}
	}
}

// deletePushed deletes the manifests the CI and deploy measurements pushed
// (latest and the deploy's versions) from the registry (plain HTTP: the engine's own registry on 127.0.0.1, which
// .ci/engine.sh starts with deletes enabled), so that no tag of the
// benchmark stays there. The layers stay until the registry's garbage
// collection. A registry that refuses deletes is said, not an error.
func (b *bench) deletePushed(ctx context.Context) {
	host, path, _ := strings.Cut(b.vars["REGISTRY"], "/")
	client := &http.Client{Timeout: 10 * time.Second}
	for _, img := range b.plan.Images {
		for _, tag := range append([]string{"latest"}, b.pushedTags...) {
			if !b.deleteManifest(ctx, client, host, path+"/"+img.Name, tag) {
				return
			}
		}
	}
}

// deleteManifest deletes repo:tag's manifest (by its digest); false when
// the registry does not answer.
func (b *bench) deleteManifest(ctx context.Context, client *http.Client, host, repo, tag string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, "http://"+host+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := client.Do(req)
	if err != nil {
		say("cleanup: registry %s: %v", host, err)
		return false
	}
	resp.Body.Close()
	digest := resp.Header.Get("Docker-Content-Digest")
	if resp.StatusCode == http.StatusNotFound || digest == "" {
		return true // not pushed, or gone with another tag of the same manifest
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodDelete, "http://"+host+"/v2/"+repo+"/manifests/"+digest, nil)
	resp, err = client.Do(req)
	if err != nil {
		say("cleanup: registry %s: %v", host, err)
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		say("cleanup: the registry kept %s:%s (DELETE answered %s)", repo, tag, resp.Status)
	}
	return true
}
