package roles

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Data is a path a service keeps data in, which the backups take and
// restore. A service declares its data in x-dtx:
//
//	redis:
//	  volumes: ["./backend/.redis_data:/data"]
//	  x-dtx:
//	    data: [{path: /data, kind: redis}]
//	backend:
//	  volumes: ["./backend/.data:/app/data"]
//	  x-dtx:
//	    data: [{path: /app/data/db.sqlite3, kind: sqlite}]
//
// A stateful service that declares none keeps its data in each of its
// writable bind mounts (kind files).
type Data struct {
	Path string   `mapstructure:"path" yaml:"path" json:"path"` // in the container
	Kind DataKind `mapstructure:"kind" yaml:"kind" json:"kind"`
	// Source is the path on the host: the bind mount's source joined
	// with the rest of Path (absolute, as compose resolved it).
	Source string `yaml:"-" json:"-"`
}

// DataKind says how a backup takes a Data path consistently.
type DataKind string

// The kinds of data.
const (
	// Redis is redis's data folder: taken through redis's own
	// persistence (a point-in-time RDB), put back as what redis loads.
	Redis DataKind = "redis"
	// SQLite is an SQLite database file: taken through SQLite's online
	// backup, or with its writers paused.
	SQLite DataKind = "sqlite"
	// Files is a file or folder, copied with the services that write it
	// paused.
	Files DataKind = "files"
)

// DataKinds lists the kinds, for messages.
var DataKinds = []DataKind{Redis, SQLite, Files}

// declaredData reads x-dtx.data: a list of {path, kind}.
func declaredData(v any) ([]Data, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s.data must be a list of {path: /in/the/container, kind: redis|sqlite|files}, not %T", Extension, v)
	}
	var out []Data
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s.data[%d] must be a mapping {path, kind}, not %T", Extension, i, item)
		}
		var d Data
		for k, v := range m {
			s, _ := v.(string)
			switch k {
			case "path":
				d.Path = s
			case "kind":
				d.Kind = DataKind(s)
			default:
				return nil, fmt.Errorf("%s.data[%d] has no key %q: it takes path and kind", Extension, i, clip(k))
			}
		}
		if !path.IsAbs(d.Path) || path.Clean(d.Path) != d.Path || d.Path == "/" {
			return nil, fmt.Errorf("%s.data[%d].path %q: name a file or folder in the container by its absolute path (/data)", Extension, i, clip(d.Path))
		}
		if !slices.Contains(DataKinds, d.Kind) {
			return nil, fmt.Errorf("%s.data[%d].kind %q: use one of %s", Extension, i, clip(string(d.Kind)), joinKinds())
		}
		out = append(out, d)
	}
	return out, nil
}

// dataOf resolves a service's data on the host: the declared paths, or a
// stateful service's writable bind mounts. A declared path must be on a
// bind mount: a backup reads and restores it on the host.
func dataOf(svc types.ServiceConfig, declared []Data, role Role) ([]Data, error) {
	if len(declared) == 0 {
		if role != Stateful {
			return nil, nil
		}
		var out []Data
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind && !v.ReadOnly {
				out = append(out, Data{Path: path.Clean(v.Target), Kind: Files, Source: filepath.Clean(v.Source)})
			}
		}
		return out, nil
	}
	out := make([]Data, 0, len(declared))
	for _, d := range declared {
		source, ok := mountedAt(svc, d.Path)
		if !ok {
			return nil, fmt.Errorf("%s.data path %s is on no writable bind mount of the service: mount a folder of the project there (volumes: [./folder:%s])", Extension, d.Path, path.Dir(d.Path))
		}
		d.Source = source
		out = append(out, d)
	}
	return out, nil
}

// mountedAt is the host path of p through the service's writable bind
// mount that holds it (the deepest one).
func mountedAt(svc types.ServiceConfig, p string) (string, bool) {
	best, source := "", ""
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind || v.ReadOnly {
			continue
		}
		target := path.Clean(v.Target)
		rest, ok := strings.CutPrefix(p, target)
		if !ok || (rest != "" && !strings.HasPrefix(rest, "/") && target != "/") || len(target) <= len(best) {
			continue
		}
		best, source = target, filepath.Join(filepath.Clean(v.Source), filepath.FromSlash(rest))
	}
	return source, best != ""
}

func joinKinds() string {
	names := make([]string, len(DataKinds))
	for i, k := range DataKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}
