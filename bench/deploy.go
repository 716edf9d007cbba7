package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/loadtest"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/testsite"
)

// deployDomain is the site's DOMAIN: the self-signed certificate the first
// deploy generates names it, and the load asks for it on 127.0.0.1.
const deployDomain = testsite.Domain

// deployEnv is the environment of every deploy, the tool's and the
// baseline's alike: the load comes from one address, so nginx's limits are
// kept out of its way (as in the end-to-end deploy test). No PRE_DEPLOY,
// so the deploys take no backup first (BACKUP_BEFORE_DEPLOY=auto): the
// backups' own measurement reports what one costs.
var deployEnv = []string{"BACKEND_RATE_LIMIT=10000r/s", "BACKEND_RATE_BURST=10000", "BACKEND_CONN_LIMIT=10000",
	// The backups' measurement fills 100 MB of notes, each kept in redis too.
	"REDIS_MEMORY=1g", "BACKEND_MEMORY=1g"}

// deployVersion is one version of the starters the measurement switches
// between: the marker its page and API answer, and its VERSION.
type deployVersion struct{ marker, version string }

// deploys measures a deploy of the release stack under load: the tool's
// `./dtx prod:deploy -version=V` against the plain `docker compose … up`
// of the same change, the command prod:deploy itself runs on an empty
// server (taken from its dry run). It builds and pushes two versions whose
// page and API differ, starts the stack at the first (not measured), then
// each round switches to the second and back with each variant, rotating
// which goes first, under a steady stream of HTTPS requests; both switches
// are samples.
func (b *bench) deploys(ctx context.Context) error {
	if b.deployRounds == 0 {
		say("skipped (-deploys 0)")
		return nil
	}
	v1, v2 := deployVersion{"one", "1.0.0"}, deployVersion{"two", "1.1.0"}
	for _, v := range []deployVersion{v1, v2} {
		if err := b.buildVersion(ctx, v); err != nil {
			return err
		}
	}
	// The plain up of each version, as prod:deploy plans it on an empty
	// server: asked before anything runs.
	raw := map[string]runner.Command{}
	for _, v := range []deployVersion{v1, v2} {
		c, err := b.plainUp(ctx, v.version)
		if err != nil {
			return err
		}
		raw[v.version] = c
	}
	b.results.deployCommand = raw[v2.version].String()
	if _, err := b.must(ctx, b.dtx("prod:deploy", "-version="+v1.version), deployEnv...); err != nil {
		return err
	}
	client, err := loadtest.Client(filepath.Join(b.root, "nginx/data/ssl/fullchain.pem"), deployDomain, b.vars["HTTPS_PORT"])
	if err != nil {
		return err
	}
	l := loadtest.Start(client, "https://"+deployDomain, []string{v1.marker, v2.marker})
	defer l.Close()
	vs := []struct {
		key string
		cmd func(v deployVersion) runner.Command
	}{
		{"deploy-tool", func(v deployVersion) runner.Command { return b.dtx("prod:deploy", "-version="+v.version) }},
		{"deploy-raw", func(v deployVersion) runner.Command { return raw[v.version] }},
	}
	for round := 0; round < b.deployRounds; round++ {
		for i := range vs {
			v := vs[(round+i)%len(vs)]
			for _, to := range []deployVersion{v2, v1} {
				from := v1
				if to == v1 {
					from = v2
				}
				if err := b.settle(l, from); err != nil {
					return err
				}
				var took time.Duration
				var out string
				var err error
				n, examples, last := l.Phase(func() { took, out, err = b.timed(ctx, v.cmd(to), deployEnv...) })
				if err != nil {
					return err
				}
				if v.key == "deploy-tool" {
					b.results.timeline.add(out)
				}
				if last != to.marker {
					return fmt.Errorf("%s to %s: build %q answers after it, want %q", v.key, to.version, last, to.marker)
				}
				b.results.add(v.key, took)
				b.results.addLoad(v.key, n, examples)
				say("deploy round %d/%d %s to %s: %s, %d of %d requests failed", round+1, b.deployRounds, v.key, to.version, fmtDur(took), n.Failed(), n.Sent)
			}
		}
	}
	return nil
}

// settle waits until a whole second of the load went right, from v, 15 s
// at most: the failures counted during a deploy are then the deploy's, not
// those of a stack that was already failing. Each wait beyond the first
// second is counted for the report.
func (b *bench) settle(l *loadtest.Stream, v deployVersion) error {
	var n loadtest.Count
	var examples []string
	var last string
	for i := 0; i < 15; i++ {
		if n, examples, last = l.Phase(func() {}); n.Sent > 0 && n.Failed() == 0 && last == v.marker {
			return nil
		}
		b.results.unsettled++
	}
	return fmt.Errorf("the release stack at %s does not answer right between deploys: in the last second %d of %d requests failed and build %q answered; first failures: %s",
		v.version, n.Failed(), n.Sent, last, strings.Join(examples, "; "))
}

// buildVersion writes v's marker into the site's page and API (as the
// end-to-end deploy test does), then builds and pushes its images as
// VERSION v.version to the benchmark's registry path.
func (b *bench) buildVersion(ctx context.Context, v deployVersion) error {
	if err := b.writeMarkers(v); err != nil {
		return err
	}
	version := "VERSION=" + v.version
	if _, err := b.must(ctx, b.dtx("docker:build"), version); err != nil {
		return err
	}
	b.pushed = true
	b.pushedTags = append(b.pushedTags, v.version)
	_, err := b.must(ctx, b.dtx("docker:push"), version)
	return err
}

// writeMarkers writes v's marker into the site's page and API.
func (b *bench) writeMarkers(v deployVersion) error {
	for _, e := range []struct{ file, old, new string }{
		{"frontend/public/index.html", "<h1>", "<p>build " + v.marker + ";</p><h1>"},
		{"backend/server.py", `body = {"service": "backend", "path": path, "dev": DEV}`,
			`body = {"service": "backend", "path": path, "dev": DEV, "build": "build ` + v.marker + `;"}`},
	} {
		text, err := os.ReadFile(filepath.Join(b.repo, e.file))
		if err != nil {
			return err
		}
		if !strings.Contains(string(text), e.old) {
			return fmt.Errorf("%s has no %q: the starters changed, update the markers in bench/deploy.go", e.file, e.old)
		}
		if err := os.WriteFile(filepath.Join(b.root, e.file), []byte(strings.Replace(string(text), e.old, e.new, 1)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// plainUp is the compose command `./dtx prod:deploy -version=version` runs
// on an empty server, read from its dry run: the same project, compose
// files, env files and VERSION as the tool's, and `up --detach --wait`.
func (b *bench) plainUp(ctx context.Context, version string) (runner.Command, error) {
	out, err := b.must(ctx, b.dtx("prod:deploy", "-version="+version), append([]string{"DRY_RUN=1"}, deployEnv...)...)
	if err != nil {
		return runner.Command{}, err
	}
	for _, line := range strings.Split(out, "\n") {
		cmd, ok := strings.CutPrefix(line, "[dry-run] ")
		if !ok || !strings.Contains(cmd, " docker compose ") || !strings.Contains(cmd, " up --detach --wait ") {
			continue
		}
		if strings.ContainsAny(cmd, `'"\`) {
			return runner.Command{}, fmt.Errorf("cannot replay %q: it has quotes", cmd)
		}
		c := runner.Command{Dir: b.root}
		for _, f := range strings.Fields(cmd) {
			switch {
			case c.Name != "":
				c.Args = append(c.Args, f)
			case f == "docker":
				c.Name = f
			default:
				c.Env = append(c.Env, f)
			}
		}
		if len(c.Env) != 1 || c.Env[0] != "VERSION="+version {
			return runner.Command{}, fmt.Errorf("the tool's plain up sets %v, want VERSION=%s alone: %s", c.Env, version, cmd)
		}
		return c, nil
	}
	return runner.Command{}, fmt.Errorf("the dry run of prod:deploy -version=%s on an empty server shows no `docker compose … up --detach --wait`:\n%s", version, out)
}

// timeline is the steps of the tool's deploys as prod:deploy prints them
// at its end (docs/deploys.md, "The timeline"): one line a step, in the
// order the steps started, then the total, each "timeline STEP 1.234s".
type timeline struct {
	order    []string                   // steps in the order first seen
	took     map[string][]time.Duration // each deploy's time in each step
	deploys  int                        // the tool's deploys read
	without  int                        // those that printed no timeline
	examples []string                   // the first deploy's lines
}

var timelineLine = regexp.MustCompile(`^timeline (\S+) (\d+(?:\.\d+)?)s$`)

// add reads one deploy's output.
func (t *timeline) add(out string) {
	t.deploys++
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		m := timelineLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		secs, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		if t.took == nil {
			t.took = map[string][]time.Duration{}
		}
		if _, seen := t.took[m[1]]; !seen {
			t.order = append(t.order, m[1])
		}
		t.took[m[1]] = append(t.took[m[1]], time.Duration(secs*float64(time.Second)))
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		t.without++
	} else if t.examples == nil {
		t.examples = lines
	}
}

// text is the timeline's table, with the deploys' median wall time for
// what the timeline does not cover.
func (t *timeline) text(wall time.Duration) string {
	var w strings.Builder
	switch {
	case t.deploys == 0:
		return "Not measured: no deploy ran."
	case t.without == t.deploys:
		return fmt.Sprintf("`./dtx prod:deploy` printed no timeline in its %d deploys (lines `timeline STEP 1.234s`, one a step, then `timeline total …`): where its time goes is not known here.", t.deploys)
	}
	fmt.Fprintf(&w, "Each `./dtx prod:deploy` ends with its timeline: one line a step, `timeline STEP SECONDS`, then the total (see [the timeline](../docs/deploys.md#the-timeline)). Per step, over the %d deploys that printed one", t.deploys-t.without)
	if t.without > 0 {
		fmt.Fprintf(&w, " (%d printed none)", t.without)
	}
	w.WriteString(" (a step a deploy did not run counts in N for the others only):\n\n")
	w.WriteString("| step | N | median | min | max |\n|---|---|---|---|---|\n")
	for _, step := range t.order {
		d := t.took[step]
		lo, hi := span(d)
		fmt.Fprintf(&w, "| %s | %d | %s | %s | %s |\n", step, len(d), fmtDur(median(d)), fmtDur(lo), fmtDur(hi))
	}
	if total := t.took["total"]; len(total) > 0 {
		fmt.Fprintf(&w, "\nThe deploy's wall time (median %s) minus its timeline's total (median %s): %s, the way in and what the target does before its first step (reading the env files, loading the compose file).", fmtDur(wall), fmtDur(median(total)), signed(wall-median(total)))
	}
	if len(t.examples) > 0 {
		w.WriteString("\n\nThe first deploy's timeline:\n\n")
		for _, l := range t.examples {
			fmt.Fprintf(&w, "    %s\n", l)
		}
	}
	return strings.TrimRight(w.String(), "\n")
}
