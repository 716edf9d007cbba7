package targets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/lock"
	"github.com/kettleofketchup/dtx_website/internal/session"
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
		"[dry-run] docker pull --quiet " + reg + "/backend:1.4.0",
		"[dry-run] docker pull --quiet " + reg + "/frontend:1.4.0",
		"[dry-run] docker pull --quiet " + reg + "/nginx:1.4.0",
		"[dry-run] VERSION=1.4.0 " + withOverride + " run --rm -T --label dtx.pre-deploy=1 backend python manage.py migrate",
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
	for _, want := range []string{"[dry-run] record the deploy (in-progress) in .dtx/deploys.jsonl", "[dry-run] record the deploy (deployed) in .dtx/deploys.jsonl", "step pull: ", "step pre-deploy: "} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("no %q:\n%s", want, log)
		}
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

// A dry run changes nothing, so it takes no lock: it plans while another
// deploy holds it. A real run is refused at once, naming the holder,
// before it runs anything.
func TestDeployLock(t *testing.T) {
	root := project(t)
	held, err := lock.Take(root, "prod:certbot", time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	o, _, log := options(root, true)
	o.Environ = append(o.Environ, "PATH=/nonexistent")
	if err := Deploy(context.Background(), o, "1.4.0", 0); err != nil {
		t.Fatalf("a dry run while the lock is held: %v\n%s", err, log)
	}
	for name, run := range map[string]func(*testing.T) error{
		"prod:deploy": func(t *testing.T) error {
			o, _, _ := options(root, false, "PATH=/nonexistent")
			return Deploy(context.Background(), o, "1.4.0", 0)
		},
		"prod:rollback": func(t *testing.T) error {
			o, _, _ := options(root, false, "PATH=/nonexistent")
			return Rollback(context.Background(), o, 0, false, false)
		},
	} {
		err := run(t)
		if err == nil || !strings.Contains(err.Error(), "another command that changes the release stack is running: prod:certbot (pid ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s while the lock is held: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, ".dtx", "deploys.jsonl")); err == nil {
		t.Error("a refused deploy wrote its history")
	}
}

// PRE_DEPLOY from the .local file is a secret in every form: its words
// never print in the dry run's plan (issue 18: a password inside one of
// them showed).
func TestDeployDryRunMasksPreDeploy(t *testing.T) {
	root := project(t)
	writeFile(t, root, "docker/.env.release.local", "PRE_DEPLOY=python manage.py migrate --db-url postgres://app:Tr0ub4dor@db/app\n")
	o, _, log := options(root, true)
	o.Environ = append(o.Environ, "PATH=/nonexistent")
	if err := o.Do(func(o *session.Session) error { return Deploy(context.Background(), o, "1.4.0", 0) }); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	for _, hidden := range []string{"Tr0ub4dor", "postgres://"} {
		if strings.Contains(log.String(), hidden) {
			t.Errorf("printed %q:\n%s", hidden, log)
		}
	}
	if !strings.Contains(log.String(), " run --rm -T --label dtx.pre-deploy=1 backend ****") {
		t.Errorf("no masked pre-deploy command:\n%s", log)
	}
}

// A bad BACKUP_BEFORE_DEPLOY stops prod:deploy and prod:rollback with one
// line naming it, before anything is planned; and -data without a backup
// of the undone deploy is refused, nothing planned.
func TestDeployBackupSettings(t *testing.T) {
	root := project(t)
	o, _, log := options(root, true, "BACKUP_BEFORE_DEPLOY=maybe")
	o.Environ = append(o.Environ, "PATH=/nonexistent")
	err := Deploy(context.Background(), o, "1.4.0", 0)
	if err == nil || !strings.Contains(err.Error(), "BACKUP_BEFORE_DEPLOY") || !strings.Contains(err.Error(), "use 1") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %v, want one line naming BACKUP_BEFORE_DEPLOY", err)
	}
	if strings.Contains(log.String(), "docker") {
		t.Errorf("a command was planned:\n%s", log)
	}

	writeFile(t, root, ".dtx/deploys.jsonl", `{"time":"2026-12-07T01:00:00Z","version":"1.0.0","outcome":"deployed"}
{"time":"2026-12-07T02:00:00Z","version":"1.1.0","outcome":"deployed"}
`)
	o, _, log = options(root, true)
	o.Environ = append(o.Environ, "PATH=/nonexistent")
	err = Rollback(context.Background(), o, 0, true, false)
	if err == nil || !strings.Contains(err.Error(), "the deploy of 1.1.0 took no backup") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("rollback -data with no backup: %v\n%s", err, log)
	}
	if strings.Contains(log.String(), "rolling back") {
		t.Errorf("the rollback started:\n%s", log)
	}
}
