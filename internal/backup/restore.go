package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Restore puts backup name (the latest when "") back in place of st's
// data. It fetches the backup from BACKUP_TO when it is not here, checks
// the manifest and every part, and refuses a backup taken with another
// version than the one that runs unless force; all before it touches
// anything. Then it stops the services that write the data, puts each
// part back (each by renames inside its own folder), starts them and waits
// until they are healthy, and says what it did. The tool's own parts (the
// certificates, the deploy history) are put back only where the server has
// none. The caller holds the release stack's lock (internal/lock).
func Restore(ctx context.Context, st *session.Stack, name string, force bool) error {
	cfg, err := readSettings(st)
	if err != nil {
		return err
	}
	dir := filepath.Join(st.Root, Dir)
	if name == "" {
		latest, err := Latest(st.Root)
		if err != nil {
			return err
		}
		name = latest.Name
	} else if err := CheckName(name); err != nil {
		return err
	}
	if err := refuseLinks(st.Root, filepath.Join(Dir, name)); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(dir, name)); errors.Is(err, fs.ErrNotExist) {
		if cfg.to == nil {
			return fmt.Errorf("backup %s is not in %s: ./dtx prod:backups lists them (with BACKUP_TO set, a restore takes one from its copies)", name, Dir)
		}
		if st.DryRun {
			st.Say("[dry-run] fetch %s from BACKUP_TO=%s, check it, then restore it", name, cfg.to)
			return nil
		}
		if _, err := backupsDir(st.Root, true); err != nil {
			return err
		}
		if err := cleanPartials(dir); err != nil {
			return err
		}
		if err := fetch(ctx, st, *cfg.to, dir, name); err != nil {
			return err
		}
	}
	m, err := ReadManifest(st.Root, name)
	if err != nil {
		return fmt.Errorf("%w; nothing was touched", err)
	}
	if err := Verify(st.Root, m); err != nil {
		return fmt.Errorf("%w; nothing was touched: restore another backup (./dtx prod:backups lists them)", err)
	}
	r := &restorer{Stack: st, m: m, wait: cfg.wait}
	if err := r.plan(ctx, force); err != nil {
		return err
	}
	return r.apply(ctx)
}

// restorer is one restore: the backup, what goes back where, and the
// services stopped meanwhile.
type restorer struct {
	*session.Stack
	m       Manifest
	wait    time.Duration
	steps   []step
	stop    []string // services stopped while their data is put back
	kept    []string // the tool's parts left as the server has them
	running []string
}

// step puts one part back.
type step struct {
	part  Part
	tg    target
	redis RedisConfig // for an RDB: where redis loads it from now
}

// plan decides what goes back, and refuses, before anything is touched,
// a backup that does not fit the stack.
func (r *restorer) plan(ctx context.Context, force bool) error {
	targets, err := plan(ctx, r.Stack)
	if err != nil {
		return err
	}
	site, err := r.Site(ctx)
	if err != nil {
		return err
	}
	cs, err := containers(ctx, r.Stack)
	if err != nil {
		if !r.DryRun {
			return err
		}
		r.Say("[dry-run] the stack's containers are unknown (%v): planning as if none ran", err)
	}
	r.running = inState(cs, "running")
	running := runningVersion(site, cs)
	if running == "" {
		running, _ = r.Env.Version() // nothing runs: the version that will
	}
	if r.m.Version != running && !force {
		return fmt.Errorf("backup %s was taken with version %s, and %s runs: its data may not suit %s (a migration in between); roll back to %s first (./dtx prod:rollback), or restore it anyway with -force; nothing was touched",
			r.m.Name, orNone(r.m.Version), orNone(running), orNone(running), orNone(r.m.Version))
	}
	byKey := map[string]target{}
	for _, tg := range targets {
		byKey[tg.Key()] = tg
	}
	inBackup := map[string]bool{}
	for _, p := range r.m.Parts {
		inBackup[p.Key()] = true
		tg, ok := byKey[p.Key()]
		switch {
		case !ok && p.Service == toolService:
			if err := refuseLinks(r.Root, p.Source); err != nil {
				return err
			}
			tg = target{Part: p, abs: filepath.Join(r.Root, p.Source)}
		case !ok && !force:
			return fmt.Errorf("backup %s holds %s, which %s no longer declares as data; nothing was touched: restore it with -force to leave that part out", r.m.Name, p.Label(), r.Env.Environment.ComposeFile)
		case !ok:
			r.Say("left out: %s, which %s no longer declares", p.Label(), r.Env.Environment.ComposeFile)
			continue
		case p.Kind != tg.Kind:
			return fmt.Errorf("backup %s holds %s as %s data, and %s declares it %s now; nothing was touched", r.m.Name, p.Label(), p.Kind, r.Env.Environment.ComposeFile, tg.Kind)
		}
		if p.Service == toolService && hasContent(tg.abs) {
			r.kept = append(r.kept, p.Source)
			continue
		}
		s := step{part: p, tg: tg}
		if p.Format == FormatRDB {
			if s.redis, err = r.redisNow(ctx, p, tg); err != nil {
				return err
			}
		}
		if err := writable(s.folder()); err != nil {
			return err
		}
		r.steps = append(r.steps, s)
		r.stop = union(r.stop, only(tg.writers, union(r.running, inState(cs, "paused")...))...)
	}
	for _, tg := range targets {
		if !inBackup[tg.Key()] && tg.Service != toolService {
			r.Say("not in backup %s, left as it is: %s", r.m.Name, tg.Label())
		}
	}
	return nil
}

// redisNow is where redis loads its data from now: its settings asked
// of it when it runs, else those it had when the backup was taken.
func (r *restorer) redisNow(ctx context.Context, p Part, tg target) (RedisConfig, error) {
	if slices.Contains(r.running, tg.Service) {
		t := &taker{Stack: r.Stack}
		cfg, err := t.redisConfig(ctx, tg.Service)
		if err != nil {
			return cfg, err
		}
		if cfg.Dir != tg.Path {
			return cfg, fmt.Errorf("redis keeps its data in %s (its dir), but %s declares %s; nothing was touched", cfg.Dir, r.Env.Environment.ComposeFile, tg.Path)
		}
		return cfg, nil
	}
	if p.Redis == nil {
		return RedisConfig{}, fmt.Errorf("backup %s does not say where redis loads its data from, and redis does not run to say it: start it (./dtx stack:up %s); nothing was touched", r.m.Name, r.Name())
	}
	return *p.Redis, nil
}

// folder is the folder a step writes in.
func (s step) folder() string {
	if s.part.Folder {
		return s.tg.abs
	}
	return filepath.Dir(s.tg.abs)
}

// apply stops the writers, puts the parts back, and starts the writers.
func (r *restorer) apply(ctx context.Context) error {
	what := make([]string, len(r.steps))
	for i, s := range r.steps {
		what[i] = s.part.Label()
	}
	r.Say("restoring backup %s (taken %s with %s, %s): %s", r.m.Name, r.m.Time.Local().Format("2006-01-02 15:04:05"), orNone(r.m.Version), r.m.Reason, orNothing(what))
	for _, k := range r.kept {
		r.Say("kept the server's own %s (a restore puts the tool's files back only where there are none)", k)
	}
	if r.DryRun {
		if len(r.stop) > 0 {
			r.Print(r.ComposeCommand(append([]string{"stop"}, r.stop...)...))
		}
		for _, s := range r.steps {
			r.Say("[dry-run] put %s back in %s", s.part.Label(), s.tg.Source)
		}
		if len(r.stop) > 0 {
			r.Print(r.ComposeCommand(append([]string{"start"}, r.stop...)...))
			r.Say("[dry-run] wait until %s are running and healthy", strings.Join(r.stop, ", "))
		}
		return nil
	}
	start := r.Now()
	if len(r.stop) > 0 {
		if err := r.Compose(ctx, append([]string{"stop"}, r.stop...)...); err != nil {
			r.startAgain(ctx)
			return fmt.Errorf("stopping %s failed, so nothing was put back: %w", strings.Join(r.stop, ", "), err)
		}
	}
	var back []string
	for _, s := range r.steps {
		if err := r.put(s); err != nil {
			r.startAgain(ctx)
			return fmt.Errorf("putting %s back failed (%v): %s are the backup's, the rest as it was; %s started again", s.part.Label(), err, orNothing(back), orNothing(r.stop))
		}
		back = append(back, s.part.Label())
	}
	if len(r.stop) > 0 {
		if err := r.Compose(ctx, append([]string{"start"}, r.stop...)...); err != nil {
			return err
		}
		if err := waitHealthy(ctx, r.Stack, r.stop, r.wait); err != nil {
			return fmt.Errorf("the data of backup %s is back, but %w", r.m.Name, err)
		}
	}
	r.Say("restored backup %s in %s: %s%s", r.m.Name, r.Now().Sub(start).Round(100*time.Millisecond), orNothing(back), stoppedNote(r.stop))
	return nil
}

// startAgain starts what the restore stopped, after a failure; even when
// the run is being stopped.
func (r *restorer) startAgain(ctx context.Context) {
	if len(r.stop) > 0 {
		_ = r.Compose(context.WithoutCancel(ctx), append([]string{"start"}, r.stop...)...)
	}
}

// put puts one part back.
func (r *restorer) put(s step) error {
	partPath := filepath.Join(r.Root, Dir, r.m.Name, s.part.File)
	folder := s.folder()
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return err
	}
	uid, gid, err := ownerOf(folder)
	if err != nil {
		return err
	}
	staging := filepath.Join(folder, restoringDir)
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	base := filepath.Base(s.tg.abs)
	var old []string
	switch s.part.Format {
	case FormatRDB:
		names, err := redisFiles(staging, partPath, s.redis)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := chownTree(filepath.Join(staging, n), uid, gid); err != nil {
				return err
			}
		}
		old = redisOwnFiles(s.redis)
	case FormatSQLite:
		if err := copyFile(partPath, filepath.Join(staging, base), 0o600); err != nil {
			return err
		}
		if err := chownTree(filepath.Join(staging, base), uid, gid); err != nil {
			return err
		}
		old = sqliteFiles(base)
	case FormatTar:
		f, err := openNoFollow(partPath)
		if err != nil {
			return err
		}
		err = extractTar(f, staging)
		f.Close()
		if err != nil {
			return err
		}
		switch {
		case s.part.Folder:
			if old, err = entriesOf(folder); err != nil {
				return err
			}
		case s.part.Kind == string(roles.SQLite):
			old = sqliteFiles(base)
		default:
			old = []string{base}
		}
	case FormatAbsent:
		if s.part.Folder || s.part.Kind == string(roles.Files) && isDir(s.tg.abs) {
			if old, err = entriesOf(s.tg.abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		} else {
			old = sqliteFiles(base)
		}
	default:
		return fmt.Errorf("unknown format %q", s.part.Format)
	}
	return replaceEntries(folder, staging, old)
}

// sqliteFiles are a database's file and its companions.
func sqliteFiles(base string) []string {
	out := []string{base}
	for _, c := range sqliteCompanions {
		out = append(out, base+c)
	}
	return out
}

// waitHealthy waits until every container of services runs and, when it
// has a health check, is healthy; one that exits fails at once.
func waitHealthy(ctx context.Context, st *session.Stack, services []string, wait time.Duration) error {
	return st.Poll(ctx, session.Wait{What: strings.Join(services, ", ") + " run and are healthy", Timeout: wait}, func(ctx context.Context) (bool, error) {
		cs, err := containers(ctx, st)
		if err != nil {
			return false, err
		}
		for _, svc := range services {
			n := 0
			for _, c := range cs {
				if c.Service != svc {
					continue
				}
				switch {
				case c.State == "exited" || c.State == "dead":
					return true, fmt.Errorf("%s %s after the restore: ./dtx stack:logs %s says why", c.Name, c.State, st.Name())
				case c.State != "running":
					return false, fmt.Errorf("%s is %s", c.Name, c.State)
				case c.Health != "" && c.Health != "healthy":
					return false, fmt.Errorf("%s is %s", c.Name, c.Health)
				}
				n++
			}
			if n == 0 {
				return false, fmt.Errorf("%s has no container", svc)
			}
		}
		return true, nil
	})
}

// writable refuses, before anything is touched, a folder the tool cannot
// write (the services' users own them: the tool runs as root on a server).
func writable(folder string) error {
	for p := folder; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			if err := syscall.Access(p, 2 /* W_OK */); err != nil {
				uid, gid, _ := ownerOf(p)
				return fmt.Errorf("%s is %d:%d's and this user cannot write it: run the restore as root (sudo ./dtx prod:restore); nothing was touched", p, uid, gid)
			}
			return nil
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// hasContent tells whether a file exists or a folder holds anything.
func hasContent(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil {
		return false
	}
	if !fi.IsDir() {
		return true
	}
	names, _ := entriesOf(path)
	return len(names) > 0
}

func isDir(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.IsDir()
}

func orNone(v string) string {
	if v == "" {
		return "(nothing running)"
	}
	return v
}

func orNothing(list []string) string {
	if len(list) == 0 {
		return "nothing"
	}
	return strings.Join(list, ", ")
}

func stoppedNote(services []string) string {
	if len(services) == 0 {
		return ""
	}
	return fmt.Sprintf("; %s stopped meanwhile, running and healthy again", strings.Join(services, ", "))
}
