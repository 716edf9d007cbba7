package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// target is one piece of data the stack keeps now: what it is, where it
// is on the host, and the services that write it.
type target struct {
	Part
	abs     string
	writers []string // services whose writable bind mounts hold it
}

// toolParts are the tool's own state that a server cannot make again:
// certbot's account and certificates, the certificate it made itself, and
// the deploy history. Backed up when they exist; restored only where the
// server has none (a new server), never over its own.
var toolParts = []string{stack.CertbotConfig, stack.SSLDir, stack.DeployLog}

// plan lists the stack's data: each service's (internal/roles: x-dtx.data,
// or a stateful service's writable bind mounts), then the tool's own that
// exists. Data outside the project, or on the way through a link, is
// refused.
func plan(ctx context.Context, st *session.Stack) ([]target, error) {
	site, err := st.Site(ctx)
	if err != nil {
		return nil, err
	}
	model, err := st.Load(ctx)
	if err != nil {
		return nil, err
	}
	file := st.Env.Environment.ComposeFile
	var out []target
	for _, svc := range site.Services {
		for _, d := range svc.Data {
			rel, err := filepath.Rel(st.Root, d.Source)
			if err != nil || !filepath.IsLocal(rel) {
				return nil, fmt.Errorf("%s: service %s keeps its data %s at %s, outside the project: the backups take only the project's folders; mount one of them there", file, svc.Name, d.Path, d.Source)
			}
			if err := refuseLinks(st.Root, rel); err != nil {
				return nil, err
			}
			out = append(out, target{
				Part:    Part{Service: svc.Name, Kind: string(d.Kind), Path: d.Path, Source: filepath.ToSlash(rel), Folder: d.Kind == roles.Redis},
				abs:     d.Source,
				writers: writersOf(model, d.Source),
			})
		}
	}
	for _, rel := range toolParts {
		if err := refuseLinks(st.Root, rel); err != nil {
			return nil, err
		}
		abs := filepath.Join(st.Root, rel)
		fi, err := os.Lstat(abs)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, target{Part: Part{Kind: string(roles.Files), Source: rel, Folder: fi.IsDir()}, abs: abs, writers: writersOf(model, abs)})
	}
	for i := range out {
		out[i].File = partFile(i, out[i].Part)
	}
	return out, nil
}

// partFile names a part's file in the backup, without the extension its
// format adds: "1-redis-data" (.rdb).
func partFile(i int, p Part) string {
	who := p.Service
	if who == toolService {
		who = "tool"
	}
	what := filepath.Base(p.Path)
	if p.Path == "" {
		what = filepath.Base(p.Source)
	}
	slug := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, who+"-"+what)
	return fmt.Sprintf("%d-%s", i+1, strings.Trim(slug, "-"))
}

// writersOf lists the services with a writable bind mount that holds abs,
// or that abs holds.
func writersOf(model *types.Project, abs string) []string {
	var out []string
	for _, name := range model.ServiceNames() {
		for _, v := range model.Services[name].Volumes {
			if v.Type != types.VolumeTypeBind || v.ReadOnly {
				continue
			}
			if src := filepath.Clean(v.Source); within(src, abs) || within(abs, src) {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// within tells whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// container is one of the stack's containers, as `docker compose ps
// --format json` lists it.
type container struct {
	ID, Name, Service, State, Health, Image string
}

// containers lists the stack's containers, stopped ones too (a read-only
// query, also in a dry run).
func containers(ctx context.Context, st *session.Stack) ([]container, error) {
	c := st.ComposeCommand("ps", "--all", "--format", "json")
	out, err := st.Query(ctx, c)
	if err != nil {
		return nil, st.Explain(ctx, c, err)
	}
	return parsePs([]byte(out))
}

// parsePs reads `docker compose ps --format json`: one object a line
// (compose 2.21 and later) or one array.
func parsePs(out []byte) ([]container, error) {
	return compose.ParsePs[container](out)
}

// inState lists the services with a container in state (running,
// paused), in name order.
func inState(cs []container, state string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cs {
		if c.State == state && !seen[c.Service] {
			seen[c.Service] = true
			out = append(out, c.Service)
		}
	}
	sort.Strings(out)
	return out
}

// runningVersion is the tag of the images the project builds that run
// ("" when none runs; "mixed (a, b)" when they disagree), as prod:status
// says it: the proxy's tag is left out, since a deploy keeps the proxy
// under its old tag when its image is the same.
func runningVersion(site roles.Site, cs []container) string {
	tags := map[string]bool{}
	for _, c := range cs {
		svc, ok := site.Get(c.Service)
		if c.State != "running" || !ok || !svc.Built || svc.Role == roles.Proxy {
			continue
		}
		if i := strings.LastIndex(c.Image, ":"); i > strings.LastIndex(c.Image, "/") {
			tags[c.Image[i+1:]] = true
		}
	}
	var list []string
	for t := range tags {
		list = append(list, t)
	}
	sort.Strings(list)
	switch len(list) {
	case 0:
		return ""
	case 1:
		return list[0]
	}
	return "mixed (" + strings.Join(list, ", ") + ")"
}

// only keeps the names of list that are in keep.
func only(list, keep []string) []string {
	var out []string
	for _, s := range list {
		for _, k := range keep {
			if s == k {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// union adds the names of more to list, once each, sorted.
func union(list []string, more ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string{}, list...), more...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
