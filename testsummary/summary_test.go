package testsummary

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Summary(m) }

// The summary is of this run's skips: go test must run it every time.
func TestNeverCached(t *testing.T) { testenv.NeverCache(t) }

// This package runs, and prints, last only while its path sorts last.
func TestSortsLast(t *testing.T) {
	out, err := exec.Command("go", "list", "../...").Output()
	if err != nil {
		t.Fatal(err)
	}
	pkgs := strings.Fields(string(out))
	if last := pkgs[len(pkgs)-1]; !strings.HasSuffix(last, "/testsummary") {
		t.Fatalf("go test ./... ends with %s, not testsummary: the skip notes would not be its last lines; name the new package so that it sorts before testsummary", last)
	}
}
