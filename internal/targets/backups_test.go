package targets

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fakeDockerPs is a docker that only answers `compose … ps`: redis and
// backend run. A dry run asks nothing else, so the plan's argv is all
// this shows.
const fakeDockerPs = `#!/bin/sh
for a in "$@"; do [ "$a" = ps ] && ps=1; done
[ -n "$ps" ] || { echo "unexpected: docker $*" >&2; exit 99; }
echo '{"ID":"r1","Name":"dtx-release-redis-1","Service":"redis","State":"running","Health":"healthy","Image":"redis:8.2.1-alpine"}'
echo '{"ID":"b1","Name":"dtx-release-backend-1","Service":"backend","State":"running","Health":"healthy","Image":"ghcr.io/kettleofketchup/dtx_website/backend:0.1.0"}'
`

// prod:backup's dry run says how each part would be taken, with the
// commands it would run (the SQLite file through the online backup in the
// backend's container, redis through redis-cli --rdb, the tool's files
// copied), and changes nothing.
func TestBackupDryRun(t *testing.T) {
	root := project(t)
	writeFile(t, root, "nginx/data/ssl/fullchain.pem", "CERT")
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "docker"), []byte(fakeDockerPs), 0o755)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	before := tree(t, root)
	o, _, log := options(root, true)
	if err := Backup(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	got := strings.Join(commandLines(log.String()), "\n")
	got = regexp.MustCompile(`[0-9]{8}-[0-9]{6}-manual`).ReplaceAllString(got, "NAME")
	want := strings.Join([]string{
		"[dry-run] " + release + " exec -T backend python3 - /app/data/db.sqlite3 < SQLite's online backup (a python3 script) > the backup",
		"[dry-run] " + release + " exec -T redis redis-cli --rdb - > the backup",
		"[dry-run] copy nginx/data/ssl (the tool's nginx/data/ssl): no service writes it now",
		"[dry-run] write them into .dtx/backups/.partial-NAME, rename it .dtx/backups/NAME once complete, and keep the last 10",
	}, "\n")
	if got != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", got, want)
	}
	if after := tree(t, root); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("dry run changed files: %v", after)
	}
}

// Bad input is refused in one line naming the variable or value and what
// to do, before anything runs: no lock, no folder.
func TestBackupBadInput(t *testing.T) {
	for _, c := range []struct {
		env  []string
		run  func(context.Context, *testing.T, []string) error
		want string
	}{
		{[]string{"BACKUP_KEEP=all"}, backupWith, `BACKUP_KEEP="all" (from the process environment): use how many backups to keep, a number from 1 to 1000`},
		{[]string{"BACKUP_KEEP=0"}, backupWith, "a number from 1 to 1000"},
		{[]string{"BACKUP_TO=backups"}, backupWith, "BACKUP_TO=\"backups\" (from the process environment): use an absolute folder (on another disk, say), or ssh://"},
		{[]string{"BACKUP_TO=ssh://host/srv/b;reboot"}, backupWith, `the remote folder "/srv/b;reboot"`},
		{[]string{"BACKUP_SQLITE=fast"}, backupWith, `BACKUP_SQLITE="fast" (from the process environment): use online (SQLite's online backup, the default) or pause`},
		{[]string{"STACK=debug"}, backupWith, `STACK="debug": the backups are of the release stack (the default) or the prod stack`},
		{nil, restoreNamed("../../etc"), `-name="../../etc" is not a backup's name (YYYYMMDD-HHMMSS-reason, as ./dtx prod:backups lists them)`},
		{nil, restoreNamed(""), "no backup in .dtx/backups yet: take one with ./dtx prod:backup"},
		{nil, restoreNamed("20261206-101500-manual"), "backup 20261206-101500-manual is not in .dtx/backups: ./dtx prod:backups lists them"},
	} {
		root := project(t)
		before := tree(t, root)
		err := c.run(context.Background(), t, append([]string{"ROOT=" + root}, c.env...))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v\nwant %s", c.env, err, c.want)
		}
		if after := tree(t, root); strings.Join(after, ",") != strings.Join(before, ",") {
			t.Errorf("%v: bad input changed files: %v", c.env, after)
		}
	}
}

func rootOf(env []string) (string, []string) {
	root, _ := strings.CutPrefix(env[0], "ROOT=")
	return root, env[1:]
}

func backupWith(ctx context.Context, t *testing.T, env []string) error {
	root, env := rootOf(env)
	o, _, _ := options(root, false, env...)
	o.Environ = append([]string{"PATH=/nonexistent"}, env...)
	return Backup(ctx, o)
}

func restoreNamed(name string) func(context.Context, *testing.T, []string) error {
	return func(ctx context.Context, t *testing.T, env []string) error {
		root, env := rootOf(env)
		o, _, _ := options(root, false, env...)
		o.Environ = append([]string{"PATH=/nonexistent"}, env...)
		return Restore(ctx, o, name, false)
	}
}
