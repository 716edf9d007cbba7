package swarm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"path"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// The docker commands of the swarm targets, each planned here (and tested
// on its exact argv) so that the run only picks which to run. They are
// docker commands, not compose ones: the CLI reaches the manager through
// DOCKER_HOST or DOCKER_CONTEXT, and nothing reads the node's filesystem.

// stackLabel is the label Swarm puts on everything of a stack.
const stackLabel = "com.docker.stack.namespace"

// ownLabel is the label the tool puts on the secrets, configs and jobs it
// makes for a stack, so that swarm:rm finds them.
const ownLabel = "com.dtx.stack"

// Service is the Swarm name of the stack's service name.
func (s *Stack) Service(name string) string { return s.Name + "_" + name }

func (s *Stack) stackFilter() string { return "label=" + stackLabel + "=" + s.Name }

// infoCommand asks whether the engine manages a swarm.
func infoCommand() runner.Command {
	return session.Docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
}

// nodesCommand lists the swarm's node IDs.
func nodesCommand() runner.Command { return session.Docker("node", "ls", "-q") }

// dataLabelsCommand prints the DataLabel of each node (true, or empty).
func dataLabelsCommand(nodes []string) runner.Command {
	return session.Docker(append([]string{"node", "inspect", "--format", `{{index .Spec.Labels "` + DataLabel + `"}}`}, nodes...)...)
}

// manifestCommand asks the registry for ref's manifest with its digest,
// in plain HTTP when insecure (see insecureRegistry).
func manifestCommand(ref string, insecure bool) runner.Command {
	args := []string{"manifest", "inspect", "-v"}
	if insecure {
		args = append(args, "--insecure")
	}
	return session.Docker(append(args, ref)...)
}

// registryConfigCommand prints the engine's registry settings: which
// registries it reaches in plain HTTP.
func registryConfigCommand() runner.Command {
	return session.Docker("info", "--format", "{{json .RegistryConfig}}")
}

// RegistryConfig is the part of docker info's RegistryConfig that says
// which registries the engine pulls from in plain HTTP: the ranges of
// --insecure-registry CIDRs (127.0.0.0/8 by default) and the registries
// named by --insecure-registry HOST:PORT (Secure false).
type RegistryConfig struct {
	InsecureRegistryCIDRs []string
	IndexConfigs          map[string]struct{ Secure bool }
}

// ParseRegistryConfig reads `docker info --format '{{json .RegistryConfig}}'`.
func ParseRegistryConfig(out string) (RegistryConfig, error) {
	var c RegistryConfig
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &c); err != nil {
		return RegistryConfig{}, fmt.Errorf("docker info's RegistryConfig: %w", err)
	}
	return c, nil
}

// insecureRegistry tells whether ref's registry is one the engine reaches
// in plain HTTP: a loopback name or address, a registry the engine lists
// as not secure, or an address in one of its insecure ranges. The tool
// then asks that registry for digests in plain HTTP too (docker manifest
// inspect --insecure): without it the CLI insists on HTTPS, fails, and the
// stack names images by tag, so every deploy restarts every service.
func (c RegistryConfig) insecureRegistry(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	if cfg, ok := c.IndexConfigs[host]; ok && !cfg.Secure {
		return true
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	ip := net.ParseIP(h)
	if h == "localhost" || ip != nil && ip.IsLoopback() {
		return true
	}
	for _, cidr := range c.InsecureRegistryCIDRs {
		if _, n, err := net.ParseCIDR(cidr); err == nil && ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// objectKind is "secret" or "config": the docker command of a stack object.
type objectKind string

const (
	secretKind objectKind = "secret"
	configKind objectKind = "config"
)

// existsCommand succeeds when the secret or config name exists.
func existsCommand(kind objectKind, name string) runner.Command {
	return session.Docker(string(kind), "inspect", "--format", "{{.ID}}", name)
}

// createCommand creates a secret or config from its value on stdin (never
// on the command line), labelled as the stack's.
func (s *Stack) createCommand(kind objectKind, obj Object) runner.Command {
	c := session.Docker(string(kind), "create", "--label", ownLabel+"="+s.Name, obj.Name, "-")
	c.Stdin, c.StdinNote = bytes.NewReader(obj.Value), "("+obj.Key+")"
	return c
}

// deployCommand deploys the stack file, given on stdin.
func (s *Stack) deployCommand(file []byte) runner.Command {
	c := session.Docker("stack", "deploy", "--with-registry-auth", "--prune", "-c", "-", s.Name)
	c.Stdin, c.StdinNote = bytes.NewReader(file), "(the stack file)"
	return c
}

// rollbackCommand starts a service's rollback to its previous spec.
func (s *Stack) rollbackCommand(name string) runner.Command {
	return session.Docker("service", "rollback", "--detach", s.Service(name))
}

// updateStatusCommand prints a service's UpdateStatus as JSON (see ParseUpdateStatus).
func (s *Stack) updateStatusCommand(name string) runner.Command {
	return session.Docker("service", "inspect", "--format", "{{json .UpdateStatus}}", s.Service(name))
}

// replicasCommand prints each service's running/desired tasks (see ParseReplicas).
func (s *Stack) replicasCommand() runner.Command {
	return session.Docker("service", "ls", "--filter", s.stackFilter(), "--format", "{{.Name}} {{.Replicas}}")
}

// tasksCommand prints every task of the stack, newest first within a
// slot: ID|NAME|DESIRED STATE|CURRENT STATE|ERROR (see ParseTasks).
func (s *Stack) tasksCommand() runner.Command {
	return session.Docker("stack", "ps", "--no-trunc", "--format", "{{.ID}}|{{.Name}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}", s.Name)
}

// taskCommand prints a task's state, error and container (see ParseTask).
func taskCommand(id string) runner.Command {
	return session.Docker("inspect", "--type", "task", "--format", "{{.Status.State}}: {{.Status.Err}}{{.Status.Message}}|{{.Status.ContainerStatus.ContainerID}}", id)
}

// healthCommand prints a container's health as JSON (see Health).
func healthCommand(container string) runner.Command {
	return session.Docker("inspect", "--type", "container", "--format", "{{json .State.Health}}", container)
}

// serviceIDsCommand lists the IDs of the stack's services.
func (s *Stack) serviceIDsCommand() runner.Command {
	return session.Docker("service", "ls", "-q", "--filter", s.stackFilter())
}

// leftoverCommands list what of the stack is still there after docker
// stack rm: its services, its networks and the task containers of the
// engine the CLI talks to, stopped ones too (on one node: all of them), so
// that the volumes are free once none is left.
func (s *Stack) leftoverCommands() []runner.Command {
	return []runner.Command{
		s.serviceIDsCommand(),
		session.Docker("network", "ls", "-q", "--filter", s.stackFilter()),
		session.Docker("ps", "-aq", "--filter", s.stackFilter()),
	}
}

// servicesInspectCommand prints the stack's services (by ID) as docker
// service inspect's JSON: their specs and previous specs, for the prune
// (see Unused).
func servicesInspectCommand(ids []string) runner.Command {
	return session.Docker(append([]string{"service", "inspect"}, ids...)...)
}

// objectsCommand lists the secrets or configs the tool made for the stack:
// ID NAME per line (see Unused).
func (s *Stack) objectsCommand(kind objectKind) runner.Command {
	return session.Docker(string(kind), "ls", "--filter", "label="+ownLabel+"="+s.Name, "--format", "{{.ID}} {{.Name}}")
}

// versionsCommand prints, per service ID, NAME|VERSION|+PREVIOUS VERSION,
// the last field empty when the service has no previous spec (see
// Rollbackable).
func versionsCommand(ids []string) runner.Command {
	return session.Docker(append([]string{"service", "inspect", "--format",
		`{{.Spec.Name}}|{{index .Spec.Labels "com.dtx.version"}}|{{with .PreviousSpec}}+{{index .Labels "com.dtx.version"}}{{end}}`},
		ids...)...)
}

// psServicesCommand prints, per service ID: name, version, update state, image.
func psServicesCommand(ids []string) runner.Command {
	return session.Docker(append([]string{"service", "inspect", "--format",
		`{{.Spec.Name}} {{index .Spec.Labels "com.dtx.version"}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{else}}-{{end}} {{.Spec.TaskTemplate.ContainerSpec.Image}}`},
		ids...)...)
}

// psTasksCommand prints the stack's tasks as a table.
func (s *Stack) psTasksCommand() runner.Command {
	return session.Docker("stack", "ps", s.Name, "--format", "table {{.Name}}\t{{.Image}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}")
}

// removeCommand removes the stack (its services and networks).
func (s *Stack) removeCommand() runner.Command { return session.Docker("stack", "rm", s.Name) }

// ownedCommand lists the IDs of the secrets or configs the tool made for the stack.
func (s *Stack) ownedCommand(kind objectKind) runner.Command {
	return session.Docker(string(kind), "ls", "-q", "--filter", "label="+ownLabel+"="+s.Name)
}

// removeObjectsCommand removes secrets or configs by ID.
func removeObjectsCommand(kind objectKind, ids []string) runner.Command {
	return session.Docker(append([]string{string(kind), "rm"}, ids...)...)
}

// serviceIDCommand succeeds, printing its ID, when the stack's service name exists.
func (s *Stack) serviceIDCommand(name string) runner.Command {
	return session.Docker("service", "inspect", "--format", "{{.ID}}", s.Service(name))
}

// serviceImageCommand prints the image of the stack's service name.
func (s *Stack) serviceImageCommand(name string) runner.Command {
	return session.Docker("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", s.Service(name))
}

// challengePath is where, under the webroot, the proxy serves the ACME
// challenges from.
const challengePath = ".well-known/acme-challenge"

// challengeJobCommand starts a global job of image (the proxy's: it is on
// every node the proxy runs on) that writes (auth) or removes (cleanup) the
// challenge token with its validation in the webroot volume of every such
// node, mounted where the proxy mounts it (webroot). The token and
// validation are arguments of sh, never part of its script. It runs as
// root: a webroot volume made by an image from before nginx ran as a user
// is root's (the files it writes stay readable by nginx's user).
func (s *Stack) challengeJobCommand(name, image, webroot, phase, token, validation string) runner.Command {
	webroot = path.Clean(webroot)
	script := `mkdir -p "$1" && printf %s "$3" > "$1/$2"`
	if phase == "cleanup" {
		script = `rm -f "$1/$2"`
	}
	return session.Docker("service", "create", "--detach", "--quiet", "--name", name, "--mode", "global-job",
		"--restart-condition", "none", "--label", ownLabel+"="+s.Name, "--user", "0:0",
		"--mount", "type=volume,source="+s.Name+"_"+webrootVolume+",target="+webroot,
		image, "sh", "-c", script, "sh", path.Join(webroot, challengePath), token, validation)
}

// jobTasksCommand prints each task of a job: "STATE|ERROR" (see JobDone).
func jobTasksCommand(name string) runner.Command {
	return session.Docker("service", "ps", "--format", "{{.CurrentState}}|{{.Error}}", name)
}

// removeServiceCommand removes a service (the finished challenge job).
func removeServiceCommand(name string) runner.Command { return session.Docker("service", "rm", name) }
