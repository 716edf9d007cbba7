// Package swarm plans the release stack's deployment to Docker Swarm: it
// derives the stack file (compose file version 3.8, what `docker stack
// deploy` of Docker 20.10 takes) from docker-compose.release.yaml as
// compose-go resolved it and from the roles of its services (internal/roles),
// and lists the secrets and configs the stack uses. The run of the swarm
// targets is here too: deploy.go, converge.go (when an update has ended,
// decided from recorded outputs), prune.go, rm.go, ps.go and certbot.go;
// every docker command is planned in commands.go.
//
// The rules, each for a reason a test checks:
//   - No secret is in the stack file: a variable that holds one (by name,
//     by its .local origin, or because its value contains a secret's value)
//     becomes a Swarm secret mounted at /run/secrets/KEY, and the service
//     gets KEY_FILE=/run/secrets/KEY; a secret anywhere else (a command, a
//     health check) refuses the deploy (secrets.go).
//   - A service gets only the secrets it uses: those its own environment:
//     names and those it declares (x-dtx.secrets); a secret an env_file
//     brings reaches no other service.
//   - No bind mount: the nodes do not share the checkout. A bind-mounted
//     file is a Swarm config; the proxy's certificate and key are secrets;
//     a stateful service's data, the folder that holds another service's
//     declared data (x-dtx.data: the backend's SQLite file) and the ACME
//     webroot are named volumes; a service with declared data runs on the
//     node labelled DataLabel, so that its tasks share the one volume.
//   - Each role updates its own way: routed services run their replicas on
//     the overlay network without the routing mesh (endpoint_mode: dnsrr),
//     update one task at a time start-first and roll back on failure;
//     workers keep their replicas and their declared order; the proxy runs
//     on every node with host-mode ports and updates stop-first (a host
//     port has one holder); a stateful service runs once, on the node
//     labelled DataLabel, stop-first.
package swarm

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// DataLabel is the node label that keeps the stateful services (and their
// volumes) on one node: `docker node update --label-add dtx.data=true NODE`
// on the node that keeps the data.
const DataLabel = "dtx.data"

// Where the proxy finds what the stack gives it (the image's entrypoint
// reads its certificate from SSLDirVariable).
const (
	SecretsDir     = "/run/secrets"
	CertFile       = "fullchain.pem"
	KeyFile        = "privkey.pem"
	SSLDirVariable = "DTX_SSL_DIR"
)

// webrootVolume is the named volume the proxy serves the ACME challenges
// from, on each node it runs on (the ACME hook's jobs write into it).
const webrootVolume = "certbot_www"

// UpdateDelay separates the replacement of one routed task from the next.
// It is longer than the 10 s the proxy caches the tasks' addresses (the
// template's resolver valid=10s), so the proxy has seen the new task
// before the second old one stops.
const UpdateDelay = 12 * time.Second

// Monitor is how long Swarm watches an updated task before it counts the
// update of that task as a success.
const Monitor = 10 * time.Second

// StopGrace is how long a routed service's task has to finish its
// requests when the service declares no stop_grace_period.
const StopGrace = 10 * time.Second

// Object is a Swarm secret or config the stack uses: created by name before
// the deploy when it does not exist (names are keyed hashes of the content,
// so an existing one holds the same bytes).
type Object struct {
	Name string
	// Key is what it holds, for messages: an env variable, a file, "certificate"…
	Key   string
	Value []byte // never printed
}

// Input is what a plan is made from.
type Input struct {
	// Root is the project root: bind-mounted files are read from under it.
	Root string
	// Project is docker-compose.release.yaml resolved by compose-go with the
	// env files and the process environment (compose.Project.Load).
	Project *types.Project
	// Site is the roles of its services (roles.Derive).
	Site roles.Site
	// Env gives the env files' values, the process winning.
	Env *stack.Env
	// FromEnvFiles maps a service to the variables it gets only through
	// env_file (compose.EnvOverride): their values are Env's.
	FromEnvFiles map[string][]string
	// HoldsSecret tells whether a variable's value must not be written where
	// others read it (session.Stack.HoldsSecret); Hides whether a text holds
	// a secret's value in any form (the session's masker).
	HoldsSecret func(key string) bool
	Hides       func(text string) bool
	// Environ is the process environment: its variables are named when one
	// holds a secret that refuses the deploy.
	Environ []string
	// Names names the secrets (a keyed hash: see Namer).
	Names Namer
	// Version is the release's VERSION, the services' com.dtx.version label
	// (a service label: changing it restarts no task).
	Version string
	// Prefix starts the names of the stack's secrets and configs (the
	// compose project prefix, dtx by default).
	Prefix string
	// Cert and Key are the PEM certificate chain and private key the proxy
	// serves.
	Cert, Key []byte
	// Digests maps an image reference to its registry digest (sha256:…)
	// when known: the stack then names the image by digest alone, so a
	// service whose image did not change between two versions is not
	// restarted (the proxy above all, whose update stops it).
	Digests map[string]string
}

// Plan is a deployment: the stack file and what it needs.
type Plan struct {
	File     []byte   // the stack file, YAML; it holds no secret value
	Secrets  []Object // sorted by name
	Configs  []Object
	Services []string // the stack's services, sorted (without the stack prefix)
	// Notes are what the deploy says before it runs: a secret an env_file
	// brings that a service does not get, ports left out.
	Notes []string
}

// Make derives the plan from in. Errors are one line naming the service
// and what to do.
func Make(in Input) (*Plan, error) {
	if in.Project == nil || in.Env == nil || len(in.Site.Services) == 0 {
		return nil, fmt.Errorf("swarm: no compose project to derive the stack from")
	}
	if in.HoldsSecret == nil || in.Hides == nil {
		return nil, fmt.Errorf("swarm: no rule for secrets")
	}
	if in.Prefix == "" {
		in.Prefix = stack.DefaultPrefix
	}
	b := &builder{in: in, p: &Plan{}, secrets: map[string]Object{}, configs: map[string]Object{},
		f: stackFile{Version: "3.8", Services: map[string]*service{}, Volumes: map[string]*volume{},
			Secrets: map[string]*external{}, Configs: map[string]*external{},
			Networks: map[string]*network{"default": {Driver: "overlay"}}}}
	for _, svc := range in.Site.Services {
		sc, ok := in.Project.Services[svc.Name]
		if !ok {
			return nil, fmt.Errorf("swarm: service %s has a role but no definition", svc.Name)
		}
		s, err := b.service(svc, sc)
		if err != nil {
			return nil, err
		}
		b.f.Services[svc.Name] = s
		b.p.Services = append(b.p.Services, svc.Name)
	}
	sort.Strings(b.p.Services)
	for _, n := range sortedKeys(b.secrets) {
		b.p.Secrets = append(b.p.Secrets, b.secrets[n])
	}
	for _, n := range sortedKeys(b.configs) {
		b.p.Configs = append(b.p.Configs, b.configs[n])
	}
	if len(b.f.Volumes) == 0 {
		b.f.Volumes = nil
	}
	out, err := yaml.Marshal(&b.f)
	if err != nil {
		return nil, fmt.Errorf("stack file: %w", err)
	}
	b.p.File = append([]byte(header), out...)
	return b.p, nil
}

const header = "# The release stack for Docker Swarm, generated by ./dtx swarm:deploy from\n" +
	"# docker-compose.release.yaml and docker/.env.release: do not edit. No secret\n" +
	"# value is in it: they are the external secrets below (see docs/swarm.md).\n"

// builder makes the stack file one service at a time.
type builder struct {
	in      Input
	p       *Plan
	f       stackFile
	secrets map[string]Object
	configs map[string]Object
}

func (b *builder) addSecret(key, label string, value []byte) string {
	n := b.in.Names.Name(b.in.Prefix, label, value)
	b.secrets[n] = Object{Name: n, Key: key, Value: value}
	b.f.Secrets[n] = &external{External: true}
	return n
}

func (b *builder) addConfig(key, label string, value []byte) string {
	n := contentName(b.in.Prefix, label, value)
	b.configs[n] = Object{Name: n, Key: key, Value: value}
	b.f.Configs[n] = &external{External: true}
	return n
}

// service is one service of the stack file, as its role wants it.
func (b *builder) service(svc roles.Service, sc types.ServiceConfig) (*service, error) {
	in := b.in
	s := &service{
		Image:      in.image(sc.Image),
		Entrypoint: escapeAll(sc.Entrypoint),
		Command:    escapeAll(sc.Command),
		WorkingDir: escape(sc.WorkingDir),
		User:       escape(sc.User),
		Init:       sc.Init,
		ReadOnly:   sc.ReadOnly,
		CapAdd:     sortedCopy(sc.CapAdd),
		CapDrop:    sortedCopy(sc.CapDrop),
		StopSignal: sc.StopSignal,
	}
	if err := b.refuseSecrets(svc.Name, sc); err != nil {
		return nil, err
	}
	if err := b.environment(s, svc, sc); err != nil {
		return nil, err
	}
	for _, t := range sc.Tmpfs {
		s.Volumes = append(s.Volumes, mount{Type: "tmpfs", Target: t})
	}
	if err := b.mounts(s, svc, sc); err != nil {
		return nil, err
	}
	if sc.Logging != nil {
		opts := map[string]string{}
		for k, v := range sc.Logging.Options {
			opts[k] = escape(v)
		}
		s.Logging = &logging{Driver: sc.Logging.Driver, Options: opts}
	}
	if hc := sc.HealthCheck; hc != nil {
		if hc.Disable {
			s.Healthcheck = &healthcheck{Disable: true}
		} else {
			s.Healthcheck = &healthcheck{Test: escapeAll(hc.Test), Interval: dur(hc.Interval), Timeout: dur(hc.Timeout), Retries: hc.Retries, StartPeriod: dur(hc.StartPeriod)}
		}
	}
	if sc.StopGracePeriod != nil {
		s.StopGrace = dur(sc.StopGracePeriod)
	}
	s.Deploy = deploy{
		EndpointMode:   "dnsrr",
		RestartPolicy:  restartPolicy{Condition: "any", Delay: "2s"},
		UpdateConfig:   update(roles.StopFirst, "pause", 0),
		RollbackConfig: update(roles.StopFirst, "pause", 0),
	}
	if in.Version != "" {
		s.Deploy.Labels = map[string]string{"com.dtx.version": escape(in.Version)}
	}
	if sc.MemLimit > 0 {
		s.Deploy.Resources = &resources{Limits: limits{Memory: strconv.FormatInt(int64(sc.MemLimit), 10)}}
	}
	if len(sc.Ports) > 0 && svc.Role != roles.Proxy {
		b.p.Notes = append(b.p.Notes, fmt.Sprintf("service %s publishes ports; in the swarm only the proxy does (host mode): they are left out", svc.Name))
	}
	replicas := svc.Replicas
	switch svc.Role {
	case roles.Routed:
		s.Deploy.Replicas = &replicas
		// Routed tasks roll one at a time beside the old ones, and an
		// update that fails goes back the same way.
		s.Deploy.UpdateConfig = update(roles.StartFirst, "rollback", UpdateDelay)
		s.Deploy.RollbackConfig = update(roles.StartFirst, "pause", UpdateDelay)
		if s.StopGrace == "" {
			s.StopGrace = StopGrace.String()
		}
	case roles.Worker:
		s.Deploy.Replicas = &replicas
		// No address to move: no delay; the order is the worker's own (a
		// scheduler stops first, so that two never run at once).
		s.Deploy.UpdateConfig = update(svc.Update, "rollback", 0)
		s.Deploy.RollbackConfig = update(svc.Update, "pause", 0)
	case roles.Stateful:
		if svc.Replicas > 1 {
			return nil, fmt.Errorf("service %s is stateful and runs once, on the node labelled %s=true: drop %s.replicas (%d)", svc.Name, DataLabel, roles.Extension, svc.Replicas)
		}
		one := 1
		s.Deploy.Replicas = &one
		s.Deploy.Placement = &placement{Constraints: []string{"node.labels." + DataLabel + " == true"}}
	case roles.Proxy:
		if err := b.proxy(s, svc, sc); err != nil {
			return nil, err
		}
	}
	if svc.Role != roles.Stateful && len(svc.Data) > 0 {
		// Its data is a volume of the data node: every task runs there.
		s.Deploy.Placement = &placement{Constraints: []string{"node.labels." + DataLabel + " == true"}}
	}
	return s, nil
}

// holdsData tells whether the bind mount of source holds data the service
// declares (x-dtx.data).
func holdsData(svc roles.Service, source string) bool {
	for _, d := range svc.Data {
		if rel, err := filepath.Rel(source, d.Source); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			return true
		}
	}
	return false
}

// proxy gives the proxy its certificate and key as secrets, its ports in
// host mode, and one task per node.
func (b *builder) proxy(s *service, svc roles.Service, sc types.ServiceConfig) error {
	if len(b.in.Cert) == 0 || len(b.in.Key) == 0 {
		return fmt.Errorf("no certificate and key for the proxy %s", svc.Name)
	}
	// The key is the proxy's user's alone: nginx runs as a user, not root
	// (the compose file's user:), and reads it itself.
	keyMode := octal(0o400)
	uid, gid, _ := strings.Cut(sc.User, ":")
	if gid == "" {
		gid = uid
	}
	s.Secrets = append(s.Secrets,
		fileRef{Source: b.addSecret("certificate", svc.Name+"_fullchain", b.in.Cert), Target: CertFile},
		fileRef{Source: b.addSecret("private key", svc.Name+"_privkey", b.in.Key), Target: KeyFile, UID: uid, GID: gid, Mode: &keyMode},
	)
	if s.Environment == nil {
		s.Environment = map[string]string{}
	}
	s.Environment[SSLDirVariable] = SecretsDir
	for _, pc := range sc.Ports {
		published, err := strconv.ParseUint(pc.Published, 10, 16)
		if err != nil {
			return fmt.Errorf("service %s: published port %q is not a single port number", svc.Name, pc.Published)
		}
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		s.Ports = append(s.Ports, port{Target: pc.Target, Published: uint32(published), Protocol: proto, Mode: "host"})
	}
	// The proxy keeps the node's ports: one task per node that has them.
	s.Deploy.Mode = "global"
	return nil
}

// mounts turns the service's volumes into what a node can mount: a
// bind-mounted file becomes a config; the proxy's certificate folders give
// way to the certificate secrets and its ACME webroot becomes the webroot
// volume; a stateful service's bind-mounted folders become named volumes
// (SERVICE_TARGET: a service db's /data is db_data); a named volume stays.
func (b *builder) mounts(s *service, svc roles.Service, sc types.ServiceConfig) error {
	for _, v := range sc.Volumes {
		switch v.Type {
		case types.VolumeTypeTmpfs:
			s.Volumes = append(s.Volumes, mount{Type: "tmpfs", Target: v.Target})
		case types.VolumeTypeVolume:
			if v.Source == "" {
				return fmt.Errorf("service %s: an anonymous volume at %s has no name the nodes can keep: name it (NAME:%s)", svc.Name, v.Target, v.Target)
			}
			b.f.Volumes[v.Source] = &volume{}
			s.Volumes = append(s.Volumes, mount{Type: "volume", Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
		case types.VolumeTypeBind:
			if err := b.bind(s, svc, v); err != nil {
				return err
			}
		default:
			return fmt.Errorf("service %s: a %s mount at %s cannot go into a swarm stack", svc.Name, v.Type, v.Target)
		}
	}
	return nil
}

func (b *builder) bind(s *service, svc roles.Service, v types.ServiceVolumeConfig) error {
	rel, err := filepath.Rel(b.in.Root, v.Source)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = v.Source
	}
	rel = filepath.ToSlash(rel)
	if svc.Role == roles.Proxy {
		switch rel {
		case stack.SSLDir, stack.CertbotConfig:
			return nil // the certificate secrets take their place
		case stack.CertbotWebroot:
			b.f.Volumes[webrootVolume] = &volume{}
			s.Volumes = append(s.Volumes, mount{Type: "volume", Source: webrootVolume, Target: v.Target})
			return nil
		}
	}
	info, err := os.Stat(v.Source)
	if err == nil && info.Mode().IsRegular() {
		data, err := os.ReadFile(v.Source)
		if err != nil {
			return fmt.Errorf("%s (bind-mounted into service %s): %w", rel, svc.Name, err)
		}
		if len(data) == 0 {
			return fmt.Errorf("%s (bind-mounted into service %s) is empty, and Swarm refuses an empty config: restore it", rel, svc.Name)
		}
		name := b.addConfig(rel, svc.Name+"_"+label(path.Base(rel)), data)
		s.Configs = append(s.Configs, fileRef{Source: name, Target: v.Target})
		return nil
	}
	// A stateful service's folder, or one that holds a service's declared
	// data, is the node's volume, whatever this machine has there.
	if svc.Role != roles.Stateful && !holdsData(svc, v.Source) {
		if err != nil {
			return fmt.Errorf("%s (bind-mounted into service %s at %s) is missing: restore it", rel, svc.Name, v.Target)
		}
		return fmt.Errorf("service %s bind-mounts the folder %s, which the swarm's nodes do not have: use a named volume, or declare the service %s: {role: stateful} to keep it on the %s=true node", svc.Name, rel, roles.Extension, DataLabel)
	}
	name := svc.Name + "_" + label(v.Target)
	b.f.Volumes[name] = &volume{}
	s.Volumes = append(s.Volumes, mount{Type: "volume", Source: name, Target: v.Target, ReadOnly: v.ReadOnly})
	return nil
}

// image is ref, or ref's repository at its digest when the digest is known.
func (in Input) image(ref string) string {
	d, ok := in.Digests[ref]
	if !ok || d == "" {
		return ref
	}
	repo := ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo = ref[:i]
	}
	return repo + "@" + d
}

var notInName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^a-z0-9]+`) })

// label is s made fit for a volume, secret or config name: lower case,
// letters and digits joined by _ ("/data" is "data").
func label(s string) string {
	return strings.Trim(notInName().ReplaceAllString(strings.ToLower(s), "_"), "_")
}

// escape doubles every $: docker stack deploy interpolates the stack file
// from its own environment, so a $ of a value would be read as a variable
// (and ${DB_PASSWORD} in a value would bring the deploying shell's secret).
func escape(s string) string { return strings.ReplaceAll(s, "$", "$$") }

func escapeAll(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = escape(s)
	}
	return out
}

func sortedCopy(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}
