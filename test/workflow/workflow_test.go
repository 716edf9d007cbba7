// Package workflow checks the CI workflow with actionlint, pinned in go.mod.
package workflow

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var repoRoot, _ = filepath.Abs("../..")

func TestWorkflowsPassActionlint(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, ".github/workflows/*.yml"))
	if len(files) == 0 {
		t.Fatal("no workflow under .github/workflows")
	}
	cmd := exec.Command("go", append([]string{"tool", "actionlint", "-no-color"}, files...)...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

// actionlint must be able to fail: a workflow with a broken expression is
// reported.
func TestActionlintCatchesABrokenWorkflow(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.no_such_thing }}\n"), 0o644)
	cmd := exec.Command("go", "tool", "actionlint", "-no-color", bad)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no_such_thing") {
		t.Fatalf("actionlint accepted a broken workflow: %v\n%s", err, out)
	}
}

// The workflow runs .ci/run (what CI runs here too), the build and the
// browser tests (in shards, their reports merged) on every push, and pushes
// the images on version tags only.
func TestWorkflowShape(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, ".github/workflows/ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	wf := string(data)
	for _, want := range []string{"run: bash .ci/run", "path: ~/.cache/dtx-ci", "CACHE_FROM: registry\n        run: ./dtx docker:build", "if: startsWith(github.ref, 'refs/tags/v')\n        run: ./dtx docker:push", "password: ${{ secrets.GITHUB_TOKEN }}", "registry: ghcr.io",
		// The browser tests: shards as a matrix, each shard's results kept,
		// then their blob reports merged into one HTML report.
		"E2E_SHARD: ${{ matrix.shard }}", "run: ./dtx test:e2e", "path: test-results/e2e/", "merge-reports --reporter html all-blob-reports"} {
		if !strings.Contains(wf, want) {
			t.Errorf("ci.yml lacks %q", want)
		}
	}
}
