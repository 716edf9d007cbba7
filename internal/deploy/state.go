package deploy

import (
	"slices"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/roles"
)

// Container is one container of the stack, as `docker compose ps --format
// json` lists it.
type Container struct {
	ID      string
	Name    string
	Service string
	Image   string
	State   string // running, exited, created, restarting…
	Health  string // healthy, starting, unhealthy, or empty without a healthcheck
	// Labels are compose's "key=value,key=value" list: it says whether
	// the container is a one-off (compose run) and the ID of its image.
	Labels string
}

// Label is the value of one of the container's labels ("" when unset).
// compose joins labels with commas and a value may hold commas too (the
// compose files' list): a part without "=" continues the previous value.
func (c Container) Label(key string) string {
	value, found := "", false
	for _, part := range strings.Split(c.Labels, ",") {
		k, v, ok := strings.Cut(part, "=")
		switch {
		case ok && k == key:
			value, found = v, true
		case ok && found:
			return value
		case !ok && found:
			value += "," + part
		}
	}
	return value
}

// OneOff tells whether the container is a one-off (docker compose run),
// never one of its service's own.
func (c Container) OneOff() bool {
	return strings.EqualFold(c.Label("com.docker.compose.oneoff"), "true")
}

// ImageID is the ID of the image the container was created from (compose
// labels every container with it).
func (c Container) ImageID() string { return c.Label("com.docker.compose.image") }

// Running tells whether the container is one of its service's and runs.
func (c Container) Running() bool { return c.State == "running" && !c.OneOff() }

// Tag is the tag of the container's image reference ("" without one).
func (c Container) Tag() string { return Tag(c.Image) }

// PreDeployLabel marks the one-off container PRE_DEPLOY runs in, so that a
// later deploy knows a leftover one (its tool killed) for its own.
const PreDeployLabel = "dtx.pre-deploy"

// ParsePs reads `docker compose ps --all --format json`: one JSON object a
// line (compose 2.21 and later) or one array (earlier).
func ParsePs(out []byte) ([]Container, error) {
	return compose.ParsePs[Container](out)
}

// Of returns the running containers of service (one-off ones left out).
func Of(cs []Container, service string) []Container {
	var out []Container
	for _, c := range cs {
		if c.Service == service && c.Running() {
			out = append(out, c)
		}
	}
	return out
}

// Tag is the tag of an image reference ("" without one).
func Tag(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return ""
}

// Repository is an image reference without its tag.
func Repository(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// AtVersion is the reference of a built service's image at version: the
// project tags every image it builds with the version.
func AtVersion(ref, version string) string { return Repository(ref) + ":" + version }

// Plan is what a deploy of a version does, given what runs.
type Plan struct {
	Version string
	Running string // what runs (see RunningVersion); "" when nothing does
	First   bool   // nothing runs: start the stack and wait
	Nothing bool   // every service already runs the version
	// Replace are the routed services and the workers on a project image
	// that do not all run the version, in the order of Site.Replaced.
	Replace []roles.Service
	// Proxy is set when the proxy does not run the version's image
	// reference: it is recreated, unless its image ID is the same.
	Proxy *roles.Service
	// Start are the other services (stateful ones, those on images the
	// project does not build) that do not run: started before the roll.
	Start []string
	// Leftovers are containers of the services the roll replaces that do
	// not run (stopped by hand, or by a deploy that was killed) and one-off
	// containers of an earlier PRE_DEPLOY: removed before anything starts,
	// since compose would start them again instead of new ones.
	Leftovers []Container
	// Unpin is set when a deploy that was killed may have left the proxy
	// pinned to containers: it returns to the services' names.
	Unpin bool
}

// NewPlan decides a deploy of version over running (compose ps --all):
// every service the site replaces (roles.Site.Replaced) whose running
// containers are not all on its image at version is replaced.
func NewPlan(version string, running []Container, site roles.Site) Plan {
	p := Plan{Version: version}
	if !slices.ContainsFunc(running, Container.Running) {
		p.First = true
		return p
	}
	p.Running = RunningVersion(running, site, nil)
	replaced := map[string]bool{}
	for _, svc := range site.Replaced() {
		want := AtVersion(svc.Image, version)
		if allRun(Of(running, svc.Name), want) {
			continue
		}
		if svc.Role == roles.Proxy {
			proxy := svc
			p.Proxy = &proxy
			continue
		}
		p.Replace = append(p.Replace, svc)
		replaced[svc.Name] = true
	}
	for _, svc := range site.Services {
		if svc.Built && svc.Role != roles.Stateful {
			continue // a service the deploy replaces, or the proxy
		}
		if len(Of(running, svc.Name)) == 0 {
			p.Start = append(p.Start, svc.Name)
		}
	}
	for _, c := range running {
		switch {
		case c.OneOff() && c.Label(PreDeployLabel) != "":
			p.Leftovers = append(p.Leftovers, c)
		case c.OneOff() || c.Running():
		case replaced[c.Service]:
			p.Leftovers = append(p.Leftovers, c)
		}
	}
	p.Nothing = len(p.Replace) == 0 && p.Proxy == nil && len(p.Start) == 0 && len(p.Leftovers) == 0
	return p
}

// Resume marks the plan as the one that finishes or undoes a deploy a
// killed process left: every stopped container of a service on a project
// image (the proxy aside) is its residue (a stop-first worker's old
// container, new ones it created) and goes, whether or not this deploy
// replaces the service, and the proxy is unpinned at the end.
func (p *Plan) Resume(running []Container, site roles.Site) {
	p.Unpin, p.Nothing = true, false
	if p.First {
		return
	}
	for _, c := range running {
		svc, ok := site.Get(c.Service)
		if !ok || !svc.Built || svc.Role == roles.Proxy || svc.Role == roles.Stateful || c.OneOff() || c.Running() {
			continue
		}
		if !slices.ContainsFunc(p.Leftovers, func(l Container) bool { return l.ID == c.ID }) {
			p.Leftovers = append(p.Leftovers, c)
		}
	}
}

func allRun(cs []Container, ref string) bool {
	if len(cs) == 0 {
		return false
	}
	for _, c := range cs {
		if c.Image != ref {
			return false
		}
	}
	return true
}

// Describe says what the plan changes, for a progress line.
func (p Plan) Describe() string {
	var parts []string
	for _, svc := range p.Replace {
		switch {
		case svc.Role == roles.Routed:
			parts = append(parts, svc.Name+" replaced beside the old containers")
		case svc.Update == roles.StopFirst:
			parts = append(parts, svc.Name+" replaced stop-first (the old one stops before the new one starts)")
		default:
			parts = append(parts, svc.Name+" replaced start-first")
		}
	}
	if p.Proxy != nil {
		parts = append(parts, p.Proxy.Name+" recreated (its image changed)")
	}
	if len(p.Start) > 0 {
		parts = append(parts, strings.Join(p.Start, ", ")+" started (not running)")
	}
	if len(p.Leftovers) > 0 {
		parts = append(parts, "leftover containers removed ("+containerNames(p.Leftovers)+")")
	}
	if len(parts) == 0 {
		return "nothing changes"
	}
	return strings.Join(parts, "; ")
}
