package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Container is one container of the stack, as `docker compose ps --format
// json` lists it.
type Container struct {
	ID      string
	Name    string
	Service string
	Image   string
	State   string // running, exited…
	Health  string // healthy, starting, unhealthy, or empty without a healthcheck
}

// ParsePs reads `docker compose ps --all --format json`: one JSON object a
// line (compose 2.21 and later) or one array (earlier).
func ParsePs(out []byte) ([]Container, error) {
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return nil, nil
	}
	var list []Container
	if out[0] == '[' {
		if err := json.Unmarshal(out, &list); err != nil {
			return nil, fmt.Errorf("docker compose ps: %w", err)
		}
		return list, nil
	}
	for _, line := range bytes.Split(out, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) == 0 {
			continue
		}
		var c Container
		if err := json.Unmarshal(line, &c); err != nil {
			return nil, fmt.Errorf("docker compose ps: %w", err)
		}
		list = append(list, c)
	}
	return list, nil
}

// The services a deploy treats apart, named here and nowhere else in the
// package (issue 16 replaces the names with roles the compose files declare).
var (
	// Rolled are the services a deploy replaces without a dropped request:
	// new containers start beside the old ones, the proxy moves to them
	// once healthy, and the old ones drain.
	Rolled = []string{"frontend", "backend"}
	// Proxy is the service in front of the rolled ones (nginx): it can
	// only be recreated, so a deploy recreates it only for another image.
	Proxy = "nginx"
	// Migrator is the service whose new image runs PRE_DEPLOY.
	Migrator = "backend"
)

// Plan is what a deploy of a version does, given what runs.
type Plan struct {
	Version string
	Running string   // the version the rolled services run; "" when none runs
	First   bool     // nothing runs: start the stack and wait
	Nothing bool     // every service already runs the version
	Roll    []string // services to replace beside the old ones, in order
	Nginx   bool     // nginx's image changed: it is recreated (a short interruption)
}

// NewPlan decides a deploy of version: want maps each service to the image
// it must run at that version (the stack's project images).
func NewPlan(version string, running []Container, want map[string]string) Plan {
	p := Plan{Version: version}
	byService := map[string][]Container{}
	for _, c := range running {
		if c.State == "running" {
			byService[c.Service] = append(byService[c.Service], c)
		}
	}
	if len(byService) == 0 {
		p.First = true
		return p
	}
	p.Running = RunningVersion(running)
	for _, svc := range Rolled {
		if ref, ok := want[svc]; ok && !allRun(byService[svc], ref) {
			p.Roll = append(p.Roll, svc)
		}
	}
	if ref, ok := want[Proxy]; ok && !allRun(byService[Proxy], ref) {
		p.Nginx = true
	}
	// A service that is not running at all (stopped by hand) is started by
	// the roll too: it has nothing to replace.
	p.Nothing = len(p.Roll) == 0 && !p.Nginx
	return p
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

// RunningVersion is the tag of the image the rolled services' running
// containers run, when they agree ("" when nothing runs; "mixed" when
// they do not).
func RunningVersion(running []Container) string {
	tags := map[string]bool{}
	for _, c := range running {
		if c.State != "running" || !isRolled(c.Service) {
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

func isRolled(service string) bool {
	for _, s := range Rolled {
		if s == service {
			return true
		}
	}
	return false
}

// Of returns the running containers of service.
func Of(running []Container, service string) []Container {
	var out []Container
	for _, c := range running {
		if c.Service == service && c.State == "running" {
			out = append(out, c)
		}
	}
	return out
}

// Describe says what the plan changes, for a progress line.
func (p Plan) Describe() string {
	var parts []string
	for _, svc := range p.Roll {
		parts = append(parts, svc+" replaced beside the old one")
	}
	if p.Nginx {
		parts = append(parts, "nginx to be recreated (its image changed)")
	} else {
		parts = append(parts, "nginx kept (its image is the same)")
	}
	if len(parts) == 0 {
		return "nothing changes"
	}
	return strings.Join(parts, ", ")
}
