package backup

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Take takes a backup of st's data now, for reason ("manual",
// "before-1.2.0"), and returns its name: every part taken consistently
// (see the package's note), written into a hidden folder beside the
// backups and renamed into place once complete; then the oldest beyond
// BACKUP_KEEP are removed and, with BACKUP_TO, a copy is sent there. The
// caller holds the release stack's lock (internal/lock). In a dry run it
// says what it would take and returns the name it would have. The
// backups named in spare are never removed by it (the one a rollback
// is about to restore).
func Take(ctx context.Context, st *session.Stack, reason string, spare ...string) (string, error) {
	if reason == "" {
		reason = "manual"
	}
	cfg, err := readSettings(st)
	if err != nil {
		return "", err
	}
	targets, err := plan(ctx, st)
	if err != nil {
		return "", err
	}
	site, err := st.Site(ctx)
	if err != nil {
		return "", err
	}
	cs, err := containers(ctx, st)
	if err != nil {
		if !st.DryRun {
			return "", err
		}
		st.Say("[dry-run] the stack's containers are unknown (%v): planning as if none ran", err)
	}
	start := st.Now()
	name := NewName(start, reason)
	t := &taker{Stack: st, cfg: cfg, running: inState(cs, "running")}
	if st.DryRun {
		for _, tg := range targets {
			t.describe(tg)
		}
		st.Say("[dry-run] write them into %s/%s%s, rename it %s/%s once complete, and keep the last %d", Dir, partialPrefix, name, Dir, name, cfg.keep)
		if cfg.to != nil {
			st.Say("[dry-run] copy it to BACKUP_TO=%s", cfg.to)
		}
		return name, nil
	}
	dir, err := backupsDir(st.Root, true)
	if err != nil {
		return "", err
	}
	if err := cleanPartials(dir); err != nil {
		return "", err
	}
	name = uniqueName(dir, name)
	if paused := only(inState(cs, "paused"), allWriters(targets)); len(paused) > 0 {
		// An interrupted backup that paused them could not unpause them.
		st.Say("unpausing %s, left paused by an interrupted backup", strings.Join(paused, ", "))
		if err := st.Compose(ctx, append([]string{"unpause"}, paused...)...); err != nil {
			return "", err
		}
		t.running = union(t.running, paused...)
	}
	t.stage = filepath.Join(dir, partialPrefix+name)
	if err := os.Mkdir(t.stage, 0o700); err != nil {
		return "", err
	}
	complete := false
	defer func() {
		if !complete {
			os.RemoveAll(t.stage)
		}
	}()
	m := Manifest{Format: FormatVersion, Name: name, Reason: reason, Time: start.UTC(), Project: st.Project.Name, Environment: st.Name(), Version: runningVersion(site, cs)}
	for _, tg := range targets {
		p, err := t.take(ctx, tg)
		if err != nil {
			return "", fmt.Errorf("the backup of %s failed, so no backup was kept: %w", tg.Label(), err)
		}
		m.Parts = append(m.Parts, p)
	}
	m.Duration = st.Now().Sub(start).Round(10 * time.Millisecond).String()
	data, _ := json.MarshalIndent(m, "", "  ")
	if err := writeNew(filepath.Join(t.stage, ManifestFile), func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	}); err != nil {
		return "", err
	}
	syncDir(t.stage)
	if err := os.Rename(t.stage, filepath.Join(dir, name)); err != nil {
		return "", err
	}
	syncDir(dir)
	complete = true
	st.Say("backup %s taken in %s: %s in %s/%s (%s)", name, m.Duration, HumanSize(m.Size()), Dir, name, partsSummary(m.Parts))
	if err := prune(st, dir, cfg.keep, append(spare, name)); err != nil {
		st.Say("warning: the old backups could not be removed: %v", err)
	}
	if cfg.to != nil {
		if err := copyOut(ctx, st, *cfg.to, dir, name); err != nil {
			return name, fmt.Errorf("backup %s was taken, but its copy to BACKUP_TO=%s failed: %w", name, cfg.to, err)
		}
	}
	return name, nil
}

// taker takes the parts of one backup into its stage folder.
type taker struct {
	*session.Stack
	cfg     settings
	running []string // services with a running container
	stage   string
}

func (t *taker) take(ctx context.Context, tg target) (Part, error) {
	switch {
	case tg.Kind == string(roles.Redis) && slices.Contains(t.running, tg.Service):
		return t.takeRedis(ctx, tg)
	case tg.Kind == string(roles.SQLite):
		return t.takeSQLite(ctx, tg)
	}
	// Files, and a redis that is not running: its folder is still.
	return t.takeFiles(ctx, tg)
}

// describe says, in a dry run, how a part would be taken.
func (t *taker) describe(tg target) {
	writers := only(tg.writers, t.running)
	switch {
	case tg.Kind == string(roles.Redis) && slices.Contains(t.running, tg.Service):
		t.Print(t.redisSnapshot(tg.Service, nil, "the backup"))
	case tg.Kind == string(roles.SQLite) && t.cfg.sqlite == SQLiteOnline && slices.Contains(t.running, tg.Service):
		t.Print(t.sqliteOnlineCommand(tg, nil, "the backup"))
	case len(writers) > 0:
		t.Print(t.ComposeCommand(append([]string{"pause"}, writers...)...))
		t.Say("[dry-run] copy %s (%s)", tg.Source, tg.Label())
		t.Print(t.ComposeCommand(append([]string{"unpause"}, writers...)...))
	default:
		t.Say("[dry-run] copy %s (%s): no service writes it now", tg.Source, tg.Label())
	}
}

// takeRedis takes redis's data through redis: its persistence settings,
// its fingerprint, then a point-in-time RDB (see redis.go).
func (t *taker) takeRedis(ctx context.Context, tg target) (Part, error) {
	p := tg.Part
	info, err := t.redisCLI(ctx, tg.Service, "INFO", "persistence")
	if err != nil {
		return p, err
	}
	if p.Fingerprint, err = redisFingerprint(info); err != nil {
		return p, err
	}
	cfg, err := t.redisConfig(ctx, tg.Service)
	if err != nil {
		return p, err
	}
	if cfg.Dir != tg.Path {
		return p, fmt.Errorf("redis keeps its data in %s (its dir), but %s declares %s: declare %s: {data: [{path: %s, kind: redis}]}", cfg.Dir, t.Env.Environment.ComposeFile, tg.Path, roles.Extension, cfg.Dir)
	}
	p.Redis = &cfg
	p.File += ".rdb"
	path := filepath.Join(t.stage, p.File)
	start := t.Now()
	var stderr string
	err = writeNew(path, func(w io.Writer) error {
		var err error
		stderr, err = t.Tee(ctx, t.redisSnapshot(tg.Service, w, t.rel(path)))
		return err
	})
	if err != nil {
		return p, t.Explain(ctx, t.redisSnapshot(tg.Service, nil, ""), err)
	}
	if n, ok := rdbLength(stderr); ok {
		// The stream's end mark follows the RDB (see redis.go).
		if err := os.Truncate(path, n); err != nil {
			return p, err
		}
	}
	if err := CheckRDB(path); err != nil {
		return p, fmt.Errorf("the RDB redis sent is not whole: %w", err)
	}
	p.Format = FormatRDB
	p.Method = fmt.Sprintf("redis-cli --rdb: a point-in-time snapshot by redis, in %s", t.Now().Sub(start).Round(time.Millisecond))
	return p, finish(&p, path)
}

// redisSnapshot streams redis's RDB to w.
func (t *taker) redisSnapshot(service string, w io.Writer, note string) runner.Command {
	c := t.ComposeCommand("exec", "-T", service, "redis-cli", "--rdb", "-")
	c.Stdout, c.StdoutNote = w, note
	return c
}

func (t *taker) redisCLI(ctx context.Context, service string, args ...string) (string, error) {
	c := t.ComposeCommand(append([]string{"exec", "-T", service, "redis-cli"}, args...)...)
	out, err := t.Query(ctx, c)
	if err != nil {
		return "", t.Explain(ctx, c, err)
	}
	return out, nil
}

// redisConfig asks redis for its persistence settings: all at once (redis
// 7 and later), else one by one.
func (t *taker) redisConfig(ctx context.Context, service string) (RedisConfig, error) {
	out, err := t.redisCLI(ctx, service, append([]string{"CONFIG", "GET"}, redisConfigKeys...)...)
	if cfg, perr := ParseRedisConfig(out); err == nil && perr == nil {
		return cfg, nil
	}
	var all strings.Builder
	for _, key := range redisConfigKeys {
		out, err := t.redisCLI(ctx, service, "CONFIG", "GET", key)
		if err != nil {
			return RedisConfig{}, err
		}
		all.WriteString(out)
	}
	return ParseRedisConfig(all.String())
}

// errNoPython says the service's image cannot run the online backup.
var errNoPython = errors.New("no python3 in the image")

// takeSQLite takes an SQLite file: through SQLite's online backup in the
// declaring service's running container, or with its writers paused.
func (t *taker) takeSQLite(ctx context.Context, tg target) (Part, error) {
	var err error
	if tg.Fingerprint, err = sqliteFingerprint(tg.abs); err != nil {
		return tg.Part, err
	}
	if tg.Fingerprint == "sqlite:absent" {
		p := tg.Part
		p.File, p.Format, p.Method = "", FormatAbsent, "no database yet"
		return p, nil
	}
	if t.cfg.sqlite == SQLiteOnline && slices.Contains(t.running, tg.Service) {
		q, err := t.sqliteOnline(ctx, tg)
		if !errors.Is(err, errNoPython) {
			return q, err
		}
		t.Say("%s's image has no python3 for SQLite's online backup: pausing its writers while the file is copied", tg.Service)
	}
	base := filepath.Base(tg.abs)
	var names []string
	for _, suffix := range sqliteCopied {
		names = append(names, base+suffix)
	}
	return t.takeTar(ctx, tg, func(tw *tar.Writer) ([]string, error) {
		_, err := tarFiles(tw, filepath.Dir(tg.abs), names)
		return nil, err
	})
}

// sqliteOnline runs SQLite's online backup in the service's container.
func (t *taker) sqliteOnline(ctx context.Context, tg target) (Part, error) {
	p := tg.Part
	p.File += ".sqlite3"
	path := filepath.Join(t.stage, p.File)
	start := t.Now()
	err := writeNew(path, func(w io.Writer) error {
		_, err := t.Tee(ctx, t.sqliteOnlineCommand(tg, w, t.rel(path)))
		return err
	})
	var exit *runner.ExitError
	if errors.As(err, &exit) {
		switch exit.Code {
		case 126, 127:
			os.Remove(path)
			return p, errNoPython
		case 3: // removed since the fingerprint
			os.Remove(path)
			p.File, p.Format, p.Method = "", FormatAbsent, "no database yet"
			return p, nil
		}
	}
	if err != nil {
		return p, t.Explain(ctx, t.sqliteOnlineCommand(tg, nil, ""), err)
	}
	if err := CheckSQLite(path); err != nil {
		return p, fmt.Errorf("the copy SQLite's online backup made is not whole: %w", err)
	}
	p.Format = FormatSQLite
	p.Method = fmt.Sprintf("SQLite's online backup in %s's container, in %s", tg.Service, t.Now().Sub(start).Round(time.Millisecond))
	return p, finish(&p, path)
}

func (t *taker) sqliteOnlineCommand(tg target, w io.Writer, note string) runner.Command {
	c := t.ComposeCommand("exec", "-T", tg.Service, "python3", "-", tg.Path)
	c.Stdin, c.StdinNote = strings.NewReader(onlineBackupScript), "SQLite's online backup (a python3 script)"
	c.Stdout, c.StdoutNote = w, note
	return c
}

// takeFiles copies a file or folder into a tar, its writers paused.
func (t *taker) takeFiles(ctx context.Context, tg target) (Part, error) {
	fi, err := os.Lstat(tg.abs)
	if errors.Is(err, os.ErrNotExist) {
		p := tg.Part
		p.File, p.Format, p.Method, p.Fingerprint = "", FormatAbsent, "it did not exist", "files:absent"
		return p, nil
	}
	if err != nil {
		return tg.Part, err
	}
	tg.Folder = fi.IsDir()
	if tg.Service != toolService {
		if tg.Fingerprint, err = treeFingerprint(tg.abs); err != nil {
			return tg.Part, err
		}
	}
	return t.takeTar(ctx, tg, func(tw *tar.Writer) ([]string, error) {
		if tg.Folder {
			return tarDir(tw, tg.abs)
		}
		_, err := tarFiles(tw, filepath.Dir(tg.abs), []string{filepath.Base(tg.abs)})
		return nil, err
	})
}

// takeTar writes a part as a tar with the services that write it paused
// meanwhile, and says how long they were.
func (t *taker) takeTar(ctx context.Context, tg target, fill func(*tar.Writer) (left []string, err error)) (Part, error) {
	p := tg.Part
	p.File += ".tar"
	p.Format = FormatTar
	path := filepath.Join(t.stage, p.File)
	writers := only(tg.writers, t.running)
	var left []string
	paused, err := t.paused(ctx, writers, func() error {
		return writeNew(path, func(w io.Writer) error {
			tw := tar.NewWriter(w)
			var err error
			if left, err = fill(tw); err != nil {
				return err
			}
			return tw.Close()
		})
	})
	if err != nil {
		return p, err
	}
	if len(left) > 0 {
		t.Say("warning: left out of %s: %s", tg.Label(), strings.Join(left, ", "))
	}
	p.Method = "copied: no service writes it now"
	if len(writers) > 0 {
		p.Method = fmt.Sprintf("copied with %s paused for %s", strings.Join(writers, ", "), paused.Round(time.Millisecond))
		t.Say("%s: %s", tg.Label(), p.Method)
	}
	return p, finish(&p, path)
}

// paused runs fn with services paused (docker compose pause), and
// unpauses them whatever happens, even when the run is being stopped. It
// returns how long they were paused, at most: from the pause's start to
// the unpause's end.
func (t *taker) paused(ctx context.Context, services []string, fn func() error) (time.Duration, error) {
	if len(services) == 0 {
		return 0, fn()
	}
	start := t.Now()
	if err := t.Compose(ctx, append([]string{"pause"}, services...)...); err != nil {
		return 0, err
	}
	err := fn()
	if uerr := t.Compose(context.WithoutCancel(ctx), append([]string{"unpause"}, services...)...); uerr != nil && err == nil {
		err = uerr
	}
	return t.Now().Sub(start), err
}

// rel is a path for messages: relative to the project root.
func (t *taker) rel(path string) string {
	if rel, err := filepath.Rel(t.Root, path); err == nil {
		return rel
	}
	return path
}

// finish records a part file's size and SHA-256.
func finish(p *Part, path string) error {
	sum, size, err := hashFile(path)
	if err != nil {
		return err
	}
	p.SHA256, p.Size = sum, size
	return nil
}

// writeNew writes a new file (mode 0600) through fill, and syncs it.
func writeNew(path string, fill func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// allWriters lists every service that writes any of the targets.
func allWriters(targets []target) []string {
	var out []string
	for _, tg := range targets {
		out = union(out, tg.writers...)
	}
	return out
}

// cleanPartials removes what an interrupted backup, copy or fetch left in
// the backups folder: hidden, never listed.
func cleanPartials(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), partialPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// uniqueName is name, or name-2, -3… when a backup already has it (two in
// one second).
func uniqueName(dir, name string) string {
	candidate := name
	for i := 2; ; i++ {
		if _, err := os.Lstat(filepath.Join(dir, candidate)); os.IsNotExist(err) {
			return candidate
		}
		candidate = fmt.Sprintf("%s-%d", name, i)
	}
}

// prune removes the oldest backups beyond keep, never except: each is
// renamed hidden first, so that it is never listed half removed.
func prune(st *session.Stack, dir string, keep int, except []string) error {
	backups, _, err := List(st.Root)
	if err != nil {
		return err
	}
	for i := 0; len(backups)-i > keep; i++ {
		name := backups[i].Name
		if slices.Contains(except, name) {
			continue
		}
		gone := filepath.Join(dir, partialPrefix+"removed-"+name)
		if err := os.Rename(filepath.Join(dir, name), gone); err != nil {
			return err
		}
		if err := os.RemoveAll(gone); err != nil {
			return err
		}
		st.Say("removed the backup %s: BACKUP_KEEP=%d are kept", name, keep)
	}
	return nil
}

// partsSummary says each part and its size, for the last line.
func partsSummary(parts []Part) string {
	var out []string
	for _, p := range parts {
		if p.Format == FormatAbsent {
			out = append(out, p.Label()+" absent")
			continue
		}
		out = append(out, p.Label()+" "+HumanSize(p.Size))
	}
	return strings.Join(out, ", ")
}
