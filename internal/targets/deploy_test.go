package targets

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Without an engine, a dry run of prod:deploy plans a first deploy: every
// pull before anything else, then the start, and writes nothing.
func TestDeployDryRunPlan(t *testing.T) {
	root := project(t)
	before := tree(t, root)
	o, _, log := options(root, true, "PRE_DEPLOY=python manage.py migrate")
	o.Environ = append(o.Environ, "PATH=/nonexistent")
	if err := Deploy(context.Background(), o, "1.4.0", 90*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	var got []string
	for _, l := range commandLines(log.String()) {
		if strings.HasPrefix(l, "[dry-run] docker ") || strings.HasPrefix(l, "[dry-run] VERSION=") {
			got = append(got, l)
		}
	}
	withOverride := strings.Replace(release, "-f docker-compose.release.yaml", "-f docker-compose.release.yaml -f docker/.env.release.compose.yaml", 1)
	want := []string{
		"[dry-run] docker pull " + reg + "/backend:1.4.0",
		"[dry-run] docker pull " + reg + "/frontend:1.4.0",
		"[dry-run] docker pull " + reg + "/nginx:1.4.0",
		"[dry-run] VERSION=1.4.0 " + withOverride + " run --rm -T backend python manage.py migrate",
	}
	for i, w := range want {
		if i >= len(got) || got[i] != w {
			t.Fatalf("plan:\n%s\nwant it to start with:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	last := got[len(got)-1]
	if !strings.HasPrefix(last, "[dry-run] VERSION=1.4.0 docker compose --project-name dtx-release") || !strings.HasSuffix(last, " up --detach --wait --wait-timeout 90 --remove-orphans") {
		t.Errorf("last step %q, want the start of the stack at 1.4.0", last)
	}
	if !strings.Contains(log.String(), "[dry-run] record the deploy (deployed) in .dtx/deploys.jsonl") {
		t.Errorf("no record step:\n%s", log)
	}
	if after := tree(t, root); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("dry run changed files: %v", after)
	}
}

func TestDeployBadInput(t *testing.T) {
	for _, c := range []struct{ name, version, want string }{
		{"not a version", "latest", `-version="latest" is not a semantic version`},
		{"build metadata", "1.2.3+7", "has build metadata (+7): + is not valid in an image tag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := project(t)
			o, _, log := options(root, true)
			err := Deploy(context.Background(), o, c.version, 0)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line with %q", err, c.want)
			}
			if strings.Contains(log.String(), "docker") {
				t.Errorf("a command was planned:\n%s", log)
			}
		})
	}
}
