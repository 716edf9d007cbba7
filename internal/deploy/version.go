package deploy

import (
	"slices"
	"sort"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/roles"
)

// RunningVersion is the version the stack runs, judged over every service
// on an image the project builds: the tag all their running containers
// run; "" when none runs; when they differ, "mixed (1.0.0: a, b; 1.2.0:
// c)", naming which service runs which version.
//
// A deploy recreates the proxy only when its image changed, so the proxy
// often keeps running an earlier tag of the same image: a proxy container
// runs version v too when its image ID is ids[its repository:v] (the IDs
// docker image inspect gives; nil knows none).
func RunningVersion(running []Container, site roles.Site, ids map[string]string) string {
	byTag := map[string][]string{} // tag -> services
	others := map[string]bool{}    // the tags of the services other than the proxy
	var proxy []Container
	for _, svc := range site.Replaced() {
		for _, c := range Of(running, svc.Name) {
			if !slices.Contains(byTag[c.Tag()], svc.Name) {
				byTag[c.Tag()] = append(byTag[c.Tag()], svc.Name)
			}
			if svc.Role == roles.Proxy {
				proxy = append(proxy, c)
			} else {
				others[c.Tag()] = true
			}
		}
	}
	tags := make([]string, 0, len(byTag))
	for t := range byTag {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	switch {
	case len(tags) == 0:
		return ""
	case len(tags) == 1:
		return tags[0]
	case len(others) == 1:
		v := tags[slices.IndexFunc(tags, func(t string) bool { return others[t] })]
		same := true
		for _, c := range proxy {
			id := ids[AtVersion(c.Image, v)]
			same = same && (c.Tag() == v || id != "" && c.ImageID() == id)
		}
		if same {
			return v
		}
	}
	parts := make([]string, len(tags))
	for i, t := range tags {
		services := byTag[t]
		sort.Strings(services)
		if t == "" {
			t = "(no tag)"
		}
		parts[i] = t + ": " + strings.Join(services, ", ")
	}
	return "mixed (" + strings.Join(parts, "; ") + ")"
}

// Mixed tells whether a version RunningVersion gave is a mix.
func Mixed(v string) bool { return strings.HasPrefix(v, "mixed (") }

// proxyTags are the image references whose IDs RunningVersion needs to
// judge the proxy: its repository at each tag the other services run, when
// the proxy runs another tag.
func proxyTags(running []Container, site roles.Site) []string {
	var refs []string
	proxy, ok := site.Proxy()
	if !ok || !proxy.Built {
		return nil
	}
	for _, svc := range site.Replaced() {
		if svc.Role == roles.Proxy {
			continue
		}
		for _, c := range Of(running, svc.Name) {
			for _, p := range Of(running, proxy.Name) {
				if ref := AtVersion(p.Image, c.Tag()); p.Tag() != c.Tag() && !slices.Contains(refs, ref) {
					refs = append(refs, ref)
				}
			}
		}
	}
	return refs
}
