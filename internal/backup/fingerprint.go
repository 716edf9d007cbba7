package backup

import (
	"context"
	"slices"
	"sort"

	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Fingerprint is what the services' data looks like at one moment, part
// by part (Part.Key): redis's last save time and its count of writes
// since, a SHA-256 of an SQLite file with its log, of a folder's files.
// Two fingerprints that differ say that something was written in
// between; equal ones, that nothing was. A difference may be no new data
// (a checkpoint, a restart of redis), never the other way round: a
// rollback that trusts "nothing was written" loses nothing.
type Fingerprint map[string]string

// TakeFingerprint is the fingerprint of st's data now (the services'
// data only: the deploy history changes with every deploy). It reads and
// asks; it changes nothing, also outside a dry run.
func TakeFingerprint(ctx context.Context, st *session.Stack) (Fingerprint, error) {
	targets, err := plan(ctx, st)
	if err != nil {
		return nil, err
	}
	cs, err := containers(ctx, st)
	if err != nil {
		return nil, err
	}
	t := &taker{Stack: st, running: inState(cs, "running")}
	fp := Fingerprint{}
	for _, tg := range targets {
		if tg.Service == toolService {
			continue
		}
		var v string
		switch {
		case tg.Kind == string(roles.Redis) && slices.Contains(t.running, tg.Service):
			info, err := t.redisCLI(ctx, tg.Service, "INFO", "persistence")
			if err == nil {
				v, err = redisFingerprint(info)
			}
			if err != nil {
				return nil, err
			}
		case tg.Kind == string(roles.SQLite):
			if v, err = sqliteFingerprint(tg.abs); err != nil {
				return nil, err
			}
		default:
			if v, err = treeFingerprint(tg.abs); err != nil {
				return nil, err
			}
		}
		fp[tg.Key()] = v
	}
	return fp, nil
}

// WritesSince names the data written since the fingerprint since was
// taken ("redis's /data"), in order; none when nothing was. Data that
// since does not know counts as written.
func WritesSince(ctx context.Context, st *session.Stack, since Fingerprint) ([]string, error) {
	now, err := TakeFingerprint(ctx, st)
	if err != nil {
		return nil, err
	}
	return Changed(since, now), nil
}

// Changed names the parts whose fingerprint differs between before and
// after ("backend:/app/data/db.sqlite3" as "backend's /app/data/db.sqlite3").
func Changed(before, after Fingerprint) []string {
	var out []string
	for key, v := range after {
		if before[key] != v {
			out = append(out, labelOfKey(key))
		}
	}
	for key := range before {
		if _, ok := after[key]; !ok {
			out = append(out, labelOfKey(key))
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func labelOfKey(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == ':' {
			return key[:i] + "'s " + key[i+1:]
		}
	}
	return key
}
