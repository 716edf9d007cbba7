// Package images plans and runs the builds, pushes and pulls of the
// project's images (run.go), and checks their Dockerfiles.
// A build is one `docker compose build` over a definition generated from
// stack.Images, so the five images build in parallel in one BuildKit session
// and the images stay data in one place.
package images

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// BuildProject is the compose project name of builds; it owns no container.
const BuildProject = "dtx-build"

// Plan is what a build, push or pull acts on.
type Plan struct {
	Images   []Image
	Registry string
	Version  string
	// Bake says the buildx plugin is installed, so compose builds through
	// Bake. Without it compose builds with its own BuildKit client, which
	// is the builder the tool can use then, but warns "configured to build
	// using Bake, but buildx isn't installed" first: the build command then
	// runs at log level error, since its definition is generated and
	// resolved (there is no other warning it could hide).
	Bake bool
	// CacheFrom says the build may take its cache from the registry's
	// latest images (CACHE_FROM=registry): what a builder with an empty
	// cache, a CI runner, needs to skip the steps whose inputs did not
	// change since the last push.
	CacheFrom bool
}

// CacheFromValue is the value of CACHE_FROM that turns CacheFrom on.
const CacheFromValue = "registry"

// InlineCache is the cache export every build asks for: the cache goes
// into the image itself, so a push publishes it and a later build's
// cache_from finds it. Inline is the export the engine's own builder (the
// docker driver, which compose uses without buildx, and buildx's default
// builder) supports; registry or local cache exports need a
// docker-container builder or the containerd image store. Inline is
// mode=min: it covers the layers of the image built, not those of other
// stages (a build stage's npm ci is cached only where the final stage
// holds its result).
const InlineCache = "type=inline"

// SystemPluginDirs are where the docker CLI looks for plugins besides
// $DOCKER_CONFIG/cli-plugins (default ~/.docker/cli-plugins). A variable so
// that tests can point it elsewhere.
var SystemPluginDirs = []string{
	"/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
	"/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
}

// BuildxInstalled tells whether the docker CLI finds the buildx plugin, the
// way it looks for plugins; lookup reads the environment.
func BuildxInstalled(lookup func(string) (string, bool)) bool {
	dirs := append([]string(nil), SystemPluginDirs...)
	if c, ok := lookup("DOCKER_CONFIG"); ok && c != "" {
		dirs = append([]string{filepath.Join(c, "cli-plugins")}, dirs...)
	} else if home, ok := lookup("HOME"); ok && home != "" {
		dirs = append([]string{filepath.Join(home, ".docker", "cli-plugins")}, dirs...)
	}
	for _, d := range dirs {
		if info, err := os.Stat(filepath.Join(d, "docker-buildx")); err == nil && !info.IsDir() {
			return true
		}
	}
	return false
}

// Tags are the tags every image gets: VERSION and latest, or latest alone
// for a development build that needs no version.
func (p Plan) Tags() []string {
	if p.Version == "" {
		return []string{"latest"}
	}
	return []string{p.Version, "latest"}
}

// Refs are the references of img, one per tag.
func (p Plan) Refs(img Image) []string {
	var refs []string
	for _, tag := range p.Tags() {
		refs = append(refs, img.Ref(p.Registry, tag))
	}
	return refs
}

// Definition is the compose file (JSON, which compose reads as YAML) that
// builds the plan's images from root: each image's build section as
// compose-go resolved it (every key kept: context, dockerfile, target, args,
// additional_contexts, secrets…), with paths under root made relative to
// it, tagged with the plan's tags besides its own. Each image carries its
// cache (InlineCache); with CacheFrom, each build also looks for cache in
// REGISTRY/<image>:latest, and goes on without it when the registry has
// none. mask is applied to every value before it is encoded (a build
// argument may be a secret), nil applies none.
func (p Plan) Definition(root string, mask func(string) string) []byte {
	if mask == nil {
		mask = func(s string) string { return s }
	}
	services := map[string]any{}
	for _, img := range p.Images {
		refs := p.Refs(img)
		b := buildSection(root, img.Build)
		tags := refs[1:]
		for _, t := range img.Build.Tags {
			if !slices.Contains(refs, t) {
				tags = append(tags, t)
			}
		}
		b["tags"] = anyStrings(tags)
		b["cache_to"] = anyStrings([]string{InlineCache})
		if p.CacheFrom {
			b["cache_from"] = anyStrings(append([]string{img.Ref(p.Registry, "latest")}, img.Build.CacheFrom...))
		}
		services[img.Name] = map[string]any{"image": refs[0], "build": b}
	}
	data, _ := json.MarshalIndent(encodeValues(map[string]any{"name": BuildProject, "services": services}, mask), "", "  ")
	return append(data, '\n')
}

// buildSection is a build section as a generic value: compose-go's own
// encoding, with unset arguments dropped (compose would take them from its
// own environment) and the context and additional contexts under root
// relative to it, as a compose file in root would write them.
func buildSection(root string, b types.BuildConfig) map[string]any {
	data, _ := json.Marshal(b)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	m["context"] = relative(root, b.Context)
	if args, ok := m["args"].(map[string]any); ok {
		for k, v := range args {
			if v == nil {
				delete(args, k)
			}
		}
		if len(args) == 0 {
			delete(m, "args")
		}
	}
	if extra, ok := m["additional_contexts"].(map[string]any); ok {
		for k, v := range extra {
			if path, ok := v.(string); ok && filepath.IsAbs(path) {
				extra[k] = relative(root, path)
			}
		}
	}
	if df, ok := m["dockerfile"].(string); ok && filepath.IsAbs(df) {
		if rel, err := filepath.Rel(b.Context, df); err == nil && !strings.HasPrefix(rel, "..") {
			m["dockerfile"] = filepath.ToSlash(rel)
		} else {
			m["dockerfile"] = relative(root, df)
		}
	}
	return m
}

func anyStrings(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

// encodeValues masks every string of a generic value and escapes its $ for
// compose, which interpolates $ in every value (a literal $ is written $$):
// masked first, so that no escaping splits a secret the mask would miss.
func encodeValues(v any, mask func(string) string) any {
	switch t := v.(type) {
	case string:
		return strings.ReplaceAll(mask(t), "$", "$$")
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = encodeValues(e, mask)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = encodeValues(e, mask)
		}
		return out
	}
	return v
}

// BuildCommand builds every image of the plan from root, reading the
// definition on stdin so that nothing is written to disk.
func (p Plan) BuildCommand(root string) runner.Command {
	return runner.Command{
		Name:      "docker",
		Args:      append(p.logLevel(), "compose", "--project-name", BuildProject, "--project-directory", ".", "-f", "-", "build"),
		Dir:       root,
		Stdin:     strings.NewReader(string(p.Definition(root, nil))),
		StdinNote: fmt.Sprintf("(build definition of %d images)", len(p.Images)),
	}
}

func (p Plan) logLevel() []string {
	if p.Bake {
		return nil
	}
	return []string{"--log-level", "error"}
}

// PushCommands push every tag of every image, in order.
func (p Plan) PushCommands() []runner.Command { return p.perRef("push") }

// PullCommands pull every tag of every image, in order.
func (p Plan) PullCommands() []runner.Command { return p.perRef("pull") }

func (p Plan) perRef(verb string) []runner.Command {
	var cmds []runner.Command
	for _, img := range p.Images {
		for _, ref := range p.Refs(img) {
			cmds = append(cmds, runner.Command{Name: "docker", Args: []string{verb, ref}})
		}
	}
	return cmds
}

// InspectCommand asks the engine for the size and creation time of each
// image, one line each, in one call.
func InspectCommand(refs ...string) runner.Command {
	return runner.Command{Name: "docker", Args: append([]string{"image", "inspect", "--format", "{{.Size}} {{.Created}}"}, refs...)}
}

// Built is one row of a build summary.
type Built struct {
	Image   Image
	Tags    []string
	Size    int64
	Created time.Time
}

// ParseInspect reads one line of the output of InspectCommand.
func ParseInspect(out string) (size int64, created time.Time, err error) {
	fields := strings.Fields(out)
	if len(fields) != 2 {
		return 0, time.Time{}, fmt.Errorf("unexpected docker image inspect output %q", out)
	}
	if size, err = strconv.ParseInt(fields[0], 10, 64); err != nil {
		return 0, time.Time{}, err
	}
	created, err = time.Parse(time.RFC3339Nano, fields[1])
	return size, created, err
}

// WriteSummary prints one line per image: its tags, its size, and how long
// its build took counted from start (the build's start; images build in
// parallel), or "cached" when the image is older than the build.
func WriteSummary(w io.Writer, rows []Built, start time.Time, total time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tTAGS\tSIZE\tBUILT")
	for _, r := range rows {
		took := "cached"
		if !r.Created.Before(start) {
			took = r.Created.Sub(start).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Image.Name, strings.Join(r.Tags, ", "), HumanSize(r.Size), took)
	}
	tw.Flush()
	fmt.Fprintf(w, "built %d images in %s\n", len(rows), total.Round(100*time.Millisecond))
}

// HumanSize formats bytes the way docker does (decimal units).
func HumanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}
