package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/lock"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// RunBackup is prod:backup: Take under the release stack's lock. Its
// variables are checked first: bad input takes no lock either.
func RunBackup(ctx context.Context, st *session.Stack) error {
	if _, err := readSettings(st); err != nil {
		return err
	}
	release, err := takeLock(st, "prod:backup")
	if err != nil {
		return err
	}
	defer release()
	_, err = Take(ctx, st, "manual")
	return err
}

// RunRestore is prod:restore: Restore under the release stack's lock,
// its input checked first.
func RunRestore(ctx context.Context, st *session.Stack, name string, force bool) error {
	if _, err := readSettings(st); err != nil {
		return err
	}
	if err := findable(st, name); err != nil {
		return err
	}
	release, err := takeLock(st, "prod:restore")
	if err != nil {
		return err
	}
	defer release()
	return Restore(ctx, st, name, force)
}

// findable refuses a backup name that is not one, or a backup that is
// neither here nor (with BACKUP_TO) elsewhere, before the lock is taken.
func findable(st *session.Stack, name string) error {
	if name == "" {
		_, err := Latest(st.Root)
		return err
	}
	if err := CheckName(name); err != nil {
		return fmt.Errorf("-name=%w", err)
	}
	cfg, _ := readSettings(st)
	if _, err := os.Lstat(filepath.Join(st.Root, Dir, name)); errors.Is(err, fs.ErrNotExist) && cfg.to == nil {
		return fmt.Errorf("backup %s is not in %s: ./dtx prod:backups lists them (with BACKUP_TO set, a restore takes one from its copies)", name, Dir)
	}
	return nil
}

// takeLock takes the release stack's lock for a run that changes the
// data; a dry run changes nothing and takes none.
func takeLock(st *session.Stack, command string) (release func(), err error) {
	if st.DryRun {
		return func() {}, nil
	}
	l, err := lock.Take(st.Root, command, st.Now())
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// PrintList is prod:backups: the backups here, oldest first, with their
// time, the version that ran, size and reason; those whose manifest
// cannot be read; and the copies in BACKUP_TO.
func PrintList(ctx context.Context, st *session.Stack) error {
	cfg, err := readSettings(st)
	if err != nil {
		return err
	}
	backups, broken, err := List(st.Root)
	if err != nil {
		return err
	}
	out := func(format string, args ...any) { fmt.Fprintln(st.Stdout, st.Mask(fmt.Sprintf(format, args...))) }
	if len(backups) == 0 {
		out("no backup in %s yet: ./dtx prod:backup takes one", Dir)
	} else {
		out("backups in %s (the last %d are kept: BACKUP_KEEP):", Dir, cfg.keep)
		for _, m := range backups {
			out("  %s", Line(m))
		}
	}
	for name, err := range broken {
		out("  %s  unreadable: %v", name, err)
	}
	if cfg.to == nil {
		out("no copy off the server: set BACKUP_TO (a folder, or ssh://HOST/FOLDER)")
		return nil
	}
	names, err := remoteNames(ctx, st, *cfg.to)
	if err != nil {
		return fmt.Errorf("listing BACKUP_TO=%s: %w", cfg.to, err)
	}
	out("copies in BACKUP_TO=%s: %d%s", cfg.to, len(names), lastOf(names))
	return nil
}

// Line says one backup in a line: name, local time, version, size, reason.
func Line(m Manifest) string {
	return fmt.Sprintf("%-34s %s  %-12s %9s  %s", m.Name, m.Time.Local().Format("2006-01-02 15:04:05"), orNone(m.Version), HumanSize(m.Size()), m.Reason)
}

// LastLine says the last backup under root, for prod:status.
func LastLine(root string) string {
	m, err := Latest(root)
	if errors.Is(err, ErrNone) {
		return fmt.Sprintf("no backup in %s yet: ./dtx prod:backup takes one", Dir)
	}
	if err != nil {
		return fmt.Sprintf("last backup: unknown (%v)", err)
	}
	return "last backup: " + strings.Join(strings.Fields(Line(m)), " ")
}

func lastOf(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return ", the last " + names[len(names)-1]
}
