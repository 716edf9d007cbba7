// Package swarm plans the release stack's deployment to Docker Swarm: it
// derives the stack file (compose file version 3.8, what `docker stack
// deploy` of Docker 20.10 takes) from docker-compose.release.yaml as
// compose-go resolved it, and lists the secrets and configs the stack uses.
// The run of the swarm targets is here too: deploy.go, converge.go (when an
// update has ended, decided from recorded outputs), rm.go, ps.go and
// certbot.go; every docker command is planned in commands.go.
//
// The rules, each for a reason a test checks:
//   - No value of the .local env file (nor any secret-named variable) is in
//     the stack file: each becomes a Swarm secret named by its content hash
//     (a changed value is a new secret, so the services roll), mounted at
//     /run/secrets/KEY, and the service gets KEY_FILE=/run/secrets/KEY.
//   - No bind mount: the nodes do not share the checkout. The nginx template
//     is a Swarm config; the certificate and key are secrets; redis's data
//     and the ACME webroot are named volumes.
//   - frontend and backend run two replicas each on the overlay network
//     without the routing mesh (endpoint_mode: dnsrr), update one task at a
//     time start-first and roll back on failure; nginx publishes its ports in
//     host mode and updates stop-first (a host port has one holder).
package swarm

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// RedisLabel is the node label that pins redis (and its volume) to one node:
// `docker node update --label-add dtx.redis=true NODE` on exactly one node.
const RedisLabel = "dtx.redis"

// Where nginx finds what the stack gives it (see nginx/entrypoint.sh).
const (
	TemplateTarget = "/etc/nginx/templates/default.conf.template"
	SecretsDir     = "/run/secrets"
	CertFile       = "fullchain.pem"
	KeyFile        = "privkey.pem"
)

// AppReplicas is how many tasks frontend and backend run: with two, nginx
// always has a live address for a service while one task is replaced
// (nginx retries the other on a refused connection).
const AppReplicas = 2

// UpdateDelay separates the replacement of one task from the next. It is
// longer than the 10 s nginx caches the tasks' addresses (the template's
// resolver valid=10s), so nginx has seen the new task before the second old
// one stops.
const UpdateDelay = 12 * time.Second

// Monitor is how long Swarm watches an updated task before it counts the
// update of that task as a success.
const Monitor = 10 * time.Second

// The services the stack treats apart, named here only (issue 16 replaces
// the names with roles the compose files declare).
var (
	// RollingServices are the services updated start-first and rolled
	// back on failure; the others (nginx: a host port; redis: one data
	// volume) stop first.
	RollingServices = []string{"frontend", "backend"}
	// nginxService publishes the node's ports, so it runs once per node,
	// and serves the ACME challenge from the certbot_www volume.
	nginxService = "nginx"
	// redisService keeps its data in one volume, on the RedisLabel node.
	redisService = "redis"
)

// Object is a Swarm secret or config the stack uses: created by name before
// the deploy when it does not exist (names are content hashes, so an existing
// one holds the same bytes).
type Object struct {
	Name string
	// Key is what it holds: an env variable, "nginx template", "certificate"…
	Key   string
	Value []byte // never printed
}

// Input is what a plan is made from.
type Input struct {
	// Project is docker-compose.release.yaml resolved by compose-go with the
	// env files and the process environment (compose.Project.Load).
	Project *types.Project
	// Env says which variables are secrets (IsLocalOrSecret) and gives their
	// values with the process winning.
	Env *stack.Env
	// Version is the release's VERSION, the services' com.dtx.version label
	// (a service label: changing it restarts no task).
	Version string
	// Prefix starts the names of the stack's secrets and configs (the
	// compose project prefix, dtx by default).
	Prefix string
	// Template is the nginx site template (nginx/default.template.conf).
	Template []byte
	// Cert and Key are the PEM certificate chain and private key nginx serves.
	Cert, Key []byte
	// Digests maps an image reference to its registry digest (sha256:…)
	// when known: the stack then names the image by digest alone, so a
	// service whose image did not change between two versions is not
	// restarted (nginx above all, whose update stops it).
	Digests map[string]string
}

// Plan is a deployment: the stack file and what it needs.
type Plan struct {
	File     []byte   // the stack file, YAML; it holds no secret value
	Secrets  []Object // sorted by name
	Configs  []Object
	Services []string // the stack's services, sorted (without the stack prefix)
}

// Make derives the plan from in. Errors name what is missing.
func Make(in Input) (*Plan, error) {
	if in.Project == nil || in.Env == nil {
		return nil, fmt.Errorf("swarm: no compose project to derive the stack from")
	}
	if len(in.Template) == 0 {
		return nil, fmt.Errorf("nginx/default.template.conf is empty or missing: restore it from git")
	}
	if len(in.Cert) == 0 || len(in.Key) == 0 {
		return nil, fmt.Errorf("no certificate and key for nginx")
	}
	prefix := in.Prefix
	if prefix == "" {
		prefix = "dtx"
	}
	p := &Plan{}
	f := stackFile{Version: "3.8", Services: map[string]*service{}, Volumes: map[string]*volume{},
		Secrets: map[string]*external{}, Configs: map[string]*external{},
		Networks: map[string]*network{"default": {Driver: "overlay"}}}
	secrets := map[string]Object{}
	addSecret := func(key, name string, value []byte) string {
		n := objectName(prefix, name, value)
		secrets[n] = Object{Name: n, Key: key, Value: value}
		f.Secrets[n] = &external{External: true}
		return n
	}

	for _, name := range in.Project.ServiceNames() {
		sc := in.Project.Services[name]
		s := &service{
			Image:    in.image(sc.Image),
			Command:  sc.Command,
			User:     sc.User,
			ReadOnly: sc.ReadOnly,
			CapAdd:   sortedCopy(sc.CapAdd),
			CapDrop:  sortedCopy(sc.CapDrop),
		}
		env, secretKeys := in.environment(sc)
		if len(env) > 0 {
			s.Environment = env
		}
		for _, key := range secretKeys {
			v, _ := in.Env.Get(key)
			src := addSecret(key, strings.ToLower(key), []byte(v))
			s.Secrets = append(s.Secrets, fileRef{Source: src, Target: key})
			if s.Environment == nil {
				s.Environment = map[string]string{}
			}
			s.Environment[key+"_FILE"] = path.Join(SecretsDir, key)
		}
		for _, t := range sc.Tmpfs {
			s.Volumes = append(s.Volumes, mount{Type: "tmpfs", Target: t})
		}
		if sc.Logging != nil {
			s.Logging = &logging{Driver: sc.Logging.Driver, Options: map[string]string(sc.Logging.Options)}
		}
		if hc := sc.HealthCheck; hc != nil && !hc.Disable {
			s.Healthcheck = &healthcheck{Test: hc.Test, Interval: dur(hc.Interval), Timeout: dur(hc.Timeout), Retries: hc.Retries, StartPeriod: dur(hc.StartPeriod)}
		}
		s.Deploy = deploy{
			EndpointMode:  "dnsrr",
			RestartPolicy: restartPolicy{Condition: "any", Delay: "2s"},
			UpdateConfig:  stopFirst(),
			// A stop-first service rolls back stop-first too.
			RollbackConfig: stopFirst(),
		}
		if in.Version != "" {
			s.Deploy.Labels = map[string]string{"com.dtx.version": in.Version}
		}
		if sc.MemLimit > 0 {
			s.Deploy.Resources = &resources{Limits: limits{Memory: strconv.FormatInt(int64(sc.MemLimit), 10)}}
		}
		switch {
		case slices.Contains(RollingServices, name):
			n := AppReplicas
			s.Deploy.Replicas = &n
			s.Deploy.UpdateConfig = startFirst("rollback")
			s.Deploy.RollbackConfig = startFirst("pause")
			s.StopGrace = "10s"
		case name == redisService:
			s.Deploy.Placement = &placement{Constraints: []string{"node.labels." + RedisLabel + " == true"}}
			for _, v := range sc.Volumes {
				if v.Type == types.VolumeTypeBind {
					f.Volumes["redis_data"] = &volume{}
					s.Volumes = append(s.Volumes, mount{Type: "volume", Source: "redis_data", Target: v.Target})
				}
			}
		case name == nginxService:
			if err := in.nginx(s, sc, &f, addSecret, prefix, &p.Configs); err != nil {
				return nil, err
			}
		}
		f.Services[name] = s
		p.Services = append(p.Services, name)
	}
	sort.Strings(p.Services)
	for _, n := range sortedKeys(secrets) {
		p.Secrets = append(p.Secrets, secrets[n])
	}
	if len(f.Volumes) == 0 {
		f.Volumes = nil
	}
	out, err := yaml.Marshal(&f)
	if err != nil {
		return nil, fmt.Errorf("stack file: %w", err)
	}
	p.File = append([]byte(header), out...)
	return p, nil
}

const header = "# The release stack for Docker Swarm, generated by ./dtx swarm:deploy from\n" +
	"# docker-compose.release.yaml and docker/.env.release: do not edit. No secret\n" +
	"# value is in it: they are the external secrets below (see docs/swarm.md).\n"

// nginx gives nginx its template as a config, its certificate and key as
// secrets, the ACME webroot as a volume, and host-mode ports.
func (in Input) nginx(s *service, sc types.ServiceConfig, f *stackFile, addSecret func(key, name string, value []byte) string, prefix string, configs *[]Object) error {
	tmpl := objectName(prefix, "nginx_template", in.Template)
	*configs = append(*configs, Object{Name: tmpl, Key: "nginx template", Value: in.Template})
	f.Configs[tmpl] = &external{External: true}
	s.Configs = append(s.Configs, fileRef{Source: tmpl, Target: TemplateTarget})
	keyMode := octal(0o400)
	s.Secrets = append(s.Secrets,
		fileRef{Source: addSecret("certificate", "nginx_fullchain", in.Cert), Target: CertFile},
		fileRef{Source: addSecret("private key", "nginx_privkey", in.Key), Target: KeyFile, Mode: &keyMode},
	)
	if s.Environment == nil {
		s.Environment = map[string]string{}
	}
	// The entrypoint looks for its own certificate there (DTX_SSL_DIR).
	s.Environment["DTX_SSL_DIR"] = SecretsDir
	f.Volumes["certbot_www"] = &volume{}
	s.Volumes = append(s.Volumes, mount{Type: "volume", Source: "certbot_www", Target: "/var/www/certbot"})
	for _, pc := range sc.Ports {
		published, err := strconv.ParseUint(pc.Published, 10, 16)
		if err != nil {
			return fmt.Errorf("nginx: published port %q is not a single port number", pc.Published)
		}
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		s.Ports = append(s.Ports, port{Target: pc.Target, Published: uint32(published), Protocol: proto, Mode: "host"})
	}
	// nginx keeps the node's ports: one task per node that has them.
	s.Deploy.Mode = "global"
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

// environment splits a service's resolved environment into the variables
// the stack file may hold (with their values, the process winning as in the
// single-host stacks) and the keys that must be secrets.
func (in Input) environment(sc types.ServiceConfig) (map[string]string, []string) {
	fromFiles := map[string]bool{}
	for _, k := range in.Env.Keys() {
		fromFiles[k] = true
	}
	env := map[string]string{}
	var secret []string
	for _, k := range sortedKeys(sc.Environment) {
		v := sc.Environment[k]
		if in.Env.IsLocalOrSecret(k) {
			if in.Env.Value(k) != "" { // Swarm refuses an empty secret; empty tells nothing
				secret = append(secret, k)
				continue
			}
			env[k] = ""
			continue
		}
		if fromFiles[k] {
			env[k] = in.Env.Value(k)
			continue
		}
		if v == nil {
			continue // set nowhere: the service's default holds
		}
		env[k] = *v
	}
	return env, secret
}
