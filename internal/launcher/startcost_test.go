package launcher

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/inittrace"
)

// costlyInits are the packages of the tool allowed a costly initialisation
// (inittrace.CostlyBytes or more), and why each is not made lazy: only
// this package's own, the way in's check (init in launched.go: the index
// read and every source stat'ed, about 230 kB), which ran in a process of
// its own before the tool checked itself. The dependencies that built
// tables at start have patched copies that build them on first use
// (third_party/README.md): jsonschema (1.7 MB), distribution/reference
// (414 kB) and go-digest (92 kB, 0.3 ms).
var costlyInits = []string{
	"github.com/kettleofketchup/dtx_website/internal/launcher", // 230 kB, 1,100 allocations
}

// startBudget is what the tool's package initialisation may allocate in
// all: about 410 kB when this was written (180 kB of packages and 230 kB of
// the way in's check), 500 kB before go-digest compiled its regexps on
// first use, 800 kB before distribution/reference did, 2.5 MB before
// jsonschema did its metaschemas.
const startBudget = 512 << 10

// Every call of the tool pays its package initialisation before the
// target runs, whether the target loads a compose file or not (one binary
// has every target). What a package allocates there is the same on every
// run and machine, unlike its time on a shared one: the set of packages
// with a costly initialisation is exactly costlyInits, and all of it
// stays within startBudget. The time is logged, for a look.
func TestStartCost(t *testing.T) {
	dir := clone(t)
	env := environ(t)
	// Past the racy window, the second call finds the tool current and
	// runs it directly, with its check (see TestToolRunsItselfWhenCurrent).
	time.Sleep(time.Duration(racyWindow) + 100*time.Millisecond)
	if _, stderr, code := dtx(t, dir, env, "-l"); code != 0 { // builds the tool
		t.Fatalf("./dtx -l: exit %d:\n%s", code, stderr)
	}
	stdout, stderr, code := dtx(t, dir, append(env, "GODEBUG=inittrace=1"), "-l")
	if code != 0 {
		t.Fatalf("./dtx -l: exit %d:\n%s", code, stderr)
	}
	tr, err := inittrace.Parse(stderr)
	if err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, stderr)
	}
	if !slices.ContainsFunc(tr, func(p inittrace.Package) bool {
		return strings.HasPrefix(p.Path, "github.com/kettleofketchup/dtx_website/")
	}) || !strings.Contains(stdout, "stack:ps") {
		t.Fatalf("the last trace is not the tool's:\n%s", stderr)
	}
	var costly []string
	for _, p := range tr.Costly() {
		costly = append(costly, p.Path)
		if !slices.Contains(costlyInits, p.Path) {
			t.Errorf("%s allocates %d kB in %d allocations at start, on every call of the tool: compile what it builds on first use (a sync.OnceValue), or, for a dependency, see third_party/README.md",
				p.Path, p.Bytes>>10, p.Allocs)
		}
	}
	for _, want := range costlyInits {
		if !slices.Contains(costly, want) {
			t.Errorf("%s no longer has a costly initialisation (under %d kB): take it off costlyInits", want, inittrace.CostlyBytes>>10)
		}
	}
	if tr.Bytes() > startBudget {
		t.Errorf("the tool's package initialisation allocates %d kB, over the budget of %d kB; the largest: %s",
			tr.Bytes()>>10, startBudget>>10, describe(tr.Costly()))
	}
	t.Logf("package initialisation: %d packages, %d kB, %v (costliest in time: %s)", len(tr), tr.Bytes()>>10, tr.Clock(), describe(tr.Slowest(3)))
}

func describe(ps []inittrace.Package) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s %d kB %v", p.Path, p.Bytes>>10, p.Clock))
	}
	return strings.Join(parts, ", ")
}
