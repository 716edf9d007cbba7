// Package roles tells what each service of a stack is for the tool, from
// the compose files alone: the tool knows roles, never the names of the
// starter's services. A role says how a deploy replaces a service and how
// the swarm updates it.
//
// A service declares its role in the compose file's x-dtx extension:
//
//	services:
//	  beat:
//	    image: ${REGISTRY}/backend:${VERSION}
//	    x-dtx:
//	      role: worker
//	      update: stop-first   # a scheduler must never run twice
//	      secrets: [DJANGO_SECRET_KEY, DATABASE_URL]
//	  backend:
//	    x-dtx:
//	      pre-deploy: true     # PRE_DEPLOY (the migrations) runs in its new image
//
// A service that declares nothing gets the role its shape says (Derive):
// the one that publishes ports and names other services in its environment
// is the proxy; a service the proxy's environment names as HOST:PORT
// (BACKEND_UPSTREAM=backend:8000) is routed; any other service on an image
// the project builds is a worker; a service on an image the project does
// not build (redis) is stateful.
package roles

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
)

// Role is what a service is for the tool.
type Role string

// The roles.
const (
	// Proxy terminates TLS and routes to the routed services (nginx). A
	// deploy recreates it only when its image changed; a swarm runs one on
	// every node, on host ports.
	Proxy Role = "proxy"
	// Routed services answer the proxy (frontend, backend). A deploy starts
	// the new containers beside the old ones and moves the proxy to them
	// once healthy, without a failed request.
	Routed Role = "routed"
	// Worker services take no request (a task queue's workers, a
	// scheduler, a bot). A deploy replaces them after their successor is
	// healthy (start-first), or stops the old one first (stop-first) when
	// two must never run at once.
	Worker Role = "worker"
	// Stateful services hold data (redis, a database). They are never
	// replaced beside themselves; a swarm keeps them on the node that
	// holds their data.
	Stateful Role = "stateful"
)

// Roles lists the roles, for messages.
var Roles = []Role{Proxy, Routed, Worker, Stateful}

// Update is how a service's containers or tasks are replaced.
type Update string

// The update orders.
const (
	StartFirst Update = "start-first" // the new one starts, and is healthy, before the old one stops
	StopFirst  Update = "stop-first"  // the old one stops before the new one starts
)

// Extension is the key of the compose extension services declare their
// role in.
const Extension = "x-dtx"

// Service is one service of a stack and its role.
type Service struct {
	Name  string
	Role  Role
	Image string // as compose resolved it
	// Built says the image is one the project builds: it moves with
	// VERSION, and a deploy replaces the service.
	Built bool
	// Update is how the service is replaced: start-first for routed
	// services and, by default, workers; stop-first for the proxy, a
	// stateful service and a worker that declares it.
	Update Update
	// Upstream is, for a routed service, the proxy's variable that holds
	// its address (BACKEND_UPSTREAM), and Port the port in it: a deploy
	// points the proxy at a new container by setting that variable to
	// CONTAINER:Port.
	Upstream string
	Port     string
	// Replicas is how many tasks the swarm runs (routed: 2, so the proxy
	// always has one while the other is replaced; others: 1), unless the
	// service declares x-dtx.replicas.
	Replicas int
	// Declared says the role came from x-dtx, not from the shape.
	Declared bool
	// Secrets are the variables of the env files the service declares it
	// uses (x-dtx.secrets): a variable that holds a secret reaches only the
	// services that name it, in their environment: or here, whatever the
	// env_file they read.
	Secrets []string
	// PreDeploy says PRE_DEPLOY (the migrations) runs in a one-off
	// container of this service's new image (x-dtx.pre-deploy: true).
	PreDeploy bool
	// Data are the paths the service keeps its data in (see Data).
	Data []Data
}

// Site is the services of one stack with their roles.
type Site struct {
	Services []Service // sorted by name
}

// declaration is what x-dtx may hold.
type declaration struct {
	Role      Role   `mapstructure:"role" yaml:"role" json:"role"`
	Update    Update `mapstructure:"update" yaml:"update" json:"update"`
	Upstream  string `mapstructure:"upstream" yaml:"upstream" json:"upstream"`
	Replicas  int    `mapstructure:"replicas" yaml:"replicas" json:"replicas"`
	Secrets   []string
	PreDeploy bool   // x-dtx.pre-deploy
	Data      []Data `mapstructure:"data" yaml:"data" json:"data"`
}

// DefaultRoutedReplicas is how many tasks a routed service runs in the
// swarm: with two, the proxy always has a live address for the service
// while one task is replaced.
const DefaultRoutedReplicas = 2

// Derive gives every service of a loaded compose project its role. file
// names the compose file for messages; built tells whether an image
// reference is one the project builds (under REGISTRY).
func Derive(model *types.Project, file string, built func(image string) bool) (Site, error) {
	var site Site
	decl := map[string]declaration{}
	for _, name := range model.ServiceNames() {
		d, err := declared(model.Services[name])
		if err != nil {
			return Site{}, fmt.Errorf("%s: service %s: %w", file, name, err)
		}
		decl[name] = d
	}
	proxy, err := findProxy(model, decl, file)
	if err != nil {
		return Site{}, err
	}
	upstreams := map[string][2]string{} // service -> proxy variable, port
	if proxy != "" {
		upstreams = routes(model, proxy)
	}
	for _, name := range model.ServiceNames() {
		svc := model.Services[name]
		d := decl[name]
		s := Service{Name: name, Image: svc.Image, Built: built(svc.Image), Role: d.Role, Declared: d.Role != ""}
		switch {
		case s.Declared:
		case name == proxy:
			s.Role = Proxy
		case !s.Built:
			s.Role = Stateful
		case upstreams[name] != [2]string{}:
			s.Role = Routed
		default:
			s.Role = Worker
		}
		if s.Role == Proxy && name != proxy {
			return Site{}, fmt.Errorf("%s: services %s and %s are both the proxy: declare one with %s: {role: proxy}", file, proxy, name, Extension)
		}
		if s.Role == Routed {
			up := upstreams[name]
			if d.Upstream != "" {
				up = [2]string{d.Upstream, routePort(model, proxy, d.Upstream)}
			}
			if up[0] == "" || up[1] == "" {
				return Site{}, fmt.Errorf("%s: service %s is routed, but the proxy's environment names it nowhere as HOST:PORT: add it to the proxy's environment (e.g. %s_UPSTREAM: %s:8000), or declare %s: {role: worker}", file, name, strings.ToUpper(strings.ReplaceAll(name, "-", "_")), name, Extension)
			}
			s.Upstream, s.Port = up[0], up[1]
		}
		s.Update = d.Update
		switch {
		case s.Role == Routed && s.Update == StopFirst:
			return Site{}, fmt.Errorf("%s: service %s is routed and cannot update stop-first: its requests would fail; make it a worker, or drop %s.update", file, name, Extension)
		case s.Update == "" && (s.Role == Routed || s.Role == Worker):
			s.Update = StartFirst
		case s.Update == "":
			s.Update = StopFirst
		case (s.Role == Proxy || s.Role == Stateful) && s.Update == StartFirst:
			return Site{}, fmt.Errorf("%s: service %s is %s and cannot update start-first: %s", file, name, s.Role, startFirstWhyNot(s.Role))
		}
		s.Secrets = d.Secrets
		s.PreDeploy = d.PreDeploy
		if s.Data, err = dataOf(svc, d.Data, s.Role); err != nil {
			return Site{}, fmt.Errorf("%s: service %s: %w", file, name, err)
		}
		s.Replicas = d.Replicas
		if s.Replicas == 0 {
			s.Replicas = 1
			if s.Role == Routed {
				s.Replicas = DefaultRoutedReplicas
			}
		}
		site.Services = append(site.Services, s)
	}
	sort.Slice(site.Services, func(i, j int) bool { return site.Services[i].Name < site.Services[j].Name })
	return site, nil
}

func startFirstWhyNot(r Role) string {
	if r == Proxy {
		return "its ports have one holder"
	}
	return "two would write the same data"
}

// declared reads a service's x-dtx extension and checks it.
func declared(svc types.ServiceConfig) (declaration, error) {
	var d declaration
	raw, ok := svc.Extensions[Extension]
	if !ok {
		return d, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return d, fmt.Errorf("%s must be a mapping (%s), not %T", Extension, strings.Join(keys, ", "), raw)
	}
	for k, v := range m {
		switch k {
		case "role":
			s, _ := v.(string)
			d.Role = Role(s)
			if !slices.Contains(Roles, d.Role) {
				return d, fmt.Errorf("%s.role %q: use one of %s", Extension, clip(fmt.Sprint(v)), joinRoles())
			}
		case "update":
			s, _ := v.(string)
			d.Update = Update(s)
			if d.Update != StartFirst && d.Update != StopFirst {
				return d, fmt.Errorf("%s.update %q: use %s or %s", Extension, clip(fmt.Sprint(v)), StartFirst, StopFirst)
			}
		case "upstream":
			s, _ := v.(string)
			if s == "" {
				return d, fmt.Errorf("%s.upstream: name the proxy's variable that holds the service's HOST:PORT", Extension)
			}
			d.Upstream = s
		case "replicas":
			n, err := strconv.Atoi(fmt.Sprint(v))
			if err != nil || n < 1 || n > 100 {
				return d, fmt.Errorf("%s.replicas %q: use a number from 1 to 100", Extension, clip(fmt.Sprint(v)))
			}
			d.Replicas = n
		case "secrets":
			names, err := variableNames(v)
			if err != nil {
				return d, err
			}
			d.Secrets = names
		case "pre-deploy":
			b, ok := v.(bool)
			if !ok {
				return d, fmt.Errorf("%s.pre-deploy %q: use true (PRE_DEPLOY runs in this service's new image) or leave it out", Extension, clip(fmt.Sprint(v)))
			}
			d.PreDeploy = b
		case "data":
			data, err := declaredData(v)
			if err != nil {
				return d, err
			}
			d.Data = data
		default:
			return d, fmt.Errorf("%s has no key %q: it takes %s and %s", Extension, clip(k), strings.Join(keys[:len(keys)-1], ", "), keys[len(keys)-1])
		}
	}
	return d, nil
}

// keys are what x-dtx takes, for messages.
var keys = []string{"role", "update", "upstream", "replicas", "secrets", "pre-deploy", "data"}

// variableNames reads x-dtx.secrets: a list of distinct variable names.
func variableNames(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s.secrets must be a list of variable names, e.g. [DB_PASSWORD], not %q", Extension, clip(fmt.Sprint(v)))
	}
	var names []string
	for _, item := range list {
		name, _ := item.(string)
		if !variableName().MatchString(name) {
			return nil, fmt.Errorf("%s.secrets: %q is not a variable name (letters, digits and _, not starting with a digit)", Extension, clip(fmt.Sprint(item)))
		}
		if slices.Contains(names, name) {
			return nil, fmt.Errorf("%s.secrets names %s twice", Extension, name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

var variableName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// findProxy is the service declared the proxy, or else the one that
// publishes ports and routes to other services (its environment names one
// as HOST:PORT), or else the only one that publishes ports; "" when there
// is none.
func findProxy(model *types.Project, decl map[string]declaration, file string) (string, error) {
	for _, name := range model.ServiceNames() {
		if decl[name].Role == Proxy {
			return name, nil
		}
	}
	var publishing, routing []string
	for _, name := range model.ServiceNames() {
		if decl[name].Role != "" || !publishes(model.Services[name]) {
			continue
		}
		publishing = append(publishing, name)
		if len(routes(model, name)) > 0 {
			routing = append(routing, name)
		}
	}
	switch {
	case len(routing) == 1:
		return routing[0], nil
	case len(routing) > 1:
		return "", fmt.Errorf("%s: services %s all publish ports and route to other services: declare the proxy with %s: {role: proxy}", file, strings.Join(routing, ", "), Extension)
	case len(publishing) == 1:
		return publishing[0], nil
	case len(publishing) > 1:
		return "", fmt.Errorf("%s: services %s all publish ports: declare the proxy with %s: {role: proxy}", file, strings.Join(publishing, ", "), Extension)
	}
	return "", nil
}

func publishes(svc types.ServiceConfig) bool {
	for _, p := range svc.Ports {
		if p.Published != "" {
			return true
		}
	}
	return false
}

// routes reads the proxy's environment: each variable whose value is
// SERVICE:PORT of another service names where the proxy sends requests.
func routes(model *types.Project, proxy string) map[string][2]string {
	out := map[string][2]string{}
	env := model.Services[proxy].Environment
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := env[k]
		if v == nil {
			continue
		}
		host, port, ok := strings.Cut(*v, ":")
		if !ok || host == proxy {
			continue
		}
		if _, isService := model.Services[host]; !isService {
			continue
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			continue
		}
		if _, seen := out[host]; !seen {
			out[host] = [2]string{k, port}
		}
	}
	return out
}

func routePort(model *types.Project, proxy, key string) string {
	if proxy == "" {
		return ""
	}
	if v := model.Services[proxy].Environment[key]; v != nil {
		if _, port, ok := strings.Cut(*v, ":"); ok {
			return port
		}
	}
	return ""
}

// Of returns the services of role r, in name order.
func (s Site) Of(r Role) []Service {
	var out []Service
	for _, svc := range s.Services {
		if svc.Role == r {
			out = append(out, svc)
		}
	}
	return out
}

// Names returns the names of services.
func Names(services []Service) []string {
	out := make([]string, len(services))
	for i, s := range services {
		out[i] = s.Name
	}
	return out
}

// Get returns the service called name.
func (s Site) Get(name string) (Service, bool) {
	for _, svc := range s.Services {
		if svc.Name == name {
			return svc, true
		}
	}
	return Service{}, false
}

// Proxy returns the proxy, if the stack has one.
func (s Site) Proxy() (Service, bool) {
	p := s.Of(Proxy)
	if len(p) == 0 {
		return Service{}, false
	}
	return p[0], true
}

// Replaced are the services a deploy of a new version replaces: those on
// an image the project builds, the proxy last (it is recreated only when
// its image changed), routed services before workers.
func (s Site) Replaced() []Service {
	var out []Service
	for _, r := range []Role{Routed, Worker, Proxy} {
		for _, svc := range s.Of(r) {
			if svc.Built {
				out = append(out, svc)
			}
		}
	}
	return out
}

func joinRoles() string {
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
