package deploy

import (
	"fmt"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// The commands of a deploy, planned here and run by the deployer. The
// compose ones are the arguments after `docker compose -p … -f …`: the
// deployer runs them in the release stack's project with VERSION set.

// drainSeconds is how long an old container gets to finish its requests
// after SIGTERM before it is killed.
const drainSeconds = "30"

// HealthFormat is docker inspect's template for a container's state and
// health: "running healthy", "running starting", "exited unhealthy", or
// "running " for a container without a health check (see ReadHealth).
const HealthFormat = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"

// PsArgs lists every container of the project, stopped ones too, as JSON
// (see ParsePs).
func PsArgs() []string { return []string{"ps", "--all", "--format", "json"} }

// StartArgs start the whole stack on an empty server and wait, wait at
// most, until every service is healthy.
func StartArgs(wait time.Duration) []string {
	return []string{"up", "--detach", "--wait", "--wait-timeout", seconds(wait), "--remove-orphans"}
}

// RecreateProxyArgs recreate the proxy alone with the version's image and
// wait until it is healthy.
func RecreateProxyArgs(wait time.Duration) []string {
	return []string{"up", "--detach", "--no-deps", "--wait", "--wait-timeout", seconds(wait), Proxy}
}

// PreDeployArgs run PRE_DEPLOY's words once, in a one-off container of the
// migrator's new image on the stack's network.
func PreDeployArgs(words []string) []string {
	return append([]string{"run", "--rm", "-T", Migrator}, words...)
}

// ScaleUpArgs start one more container of service beside the running ones
// (running of them), leaving those and the other services as they are.
func ScaleUpArgs(service string, running int) []string {
	return []string{"up", "--detach", "--no-deps", "--no-recreate", "--scale", fmt.Sprintf("%s=%d", service, running+1), service}
}

// ReloadArgs reload the proxy with each rolled service's upstream pinned
// to a container (pins: service -> container name, which Docker's DNS
// resolves) and the others' on the service's own name; nil pins nothing.
// The port stays the one of the proxy's own upstream variable (nginxEnv:
// the proxy's environment as compose resolves it).
func ReloadArgs(pins, nginxEnv map[string]string) ([]string, error) {
	args := []string{"exec", "-T"}
	for _, svc := range Rolled {
		container, ok := pins[svc]
		if !ok {
			continue
		}
		key := strings.ToUpper(svc) + "_UPSTREAM"
		_, port, found := strings.Cut(nginxEnv[key], ":")
		if !found {
			return nil, fmt.Errorf("%s of nginx is %q: want HOST:PORT", key, nginxEnv[key])
		}
		args = append(args, "--env", key+"="+container+":"+port)
	}
	return append(args, Proxy, "dtx-nginx", "reload"), nil
}

// Pull pulls one image of the version.
func Pull(ref string) runner.Command { return session.Docker("pull", ref) }

// InspectHealth asks for a container's state and health (HealthFormat).
func InspectHealth(id string) runner.Command {
	return session.Docker("inspect", "--format", HealthFormat, id)
}

// Logs are the last lines a container wrote, shown when it failed.
func Logs(id string) runner.Command { return session.Docker("logs", "--tail", "20", id) }

// ImageID asks for the ID of the image ref names now.
func ImageID(ref string) runner.Command {
	return session.Docker("image", "inspect", "--format", "{{.Id}}", ref)
}

// ContainerImage asks for the ID of the image a container runs.
func ContainerImage(id string) runner.Command {
	return session.Docker("inspect", "--format", "{{.Image}}", id)
}

// RepoDigest asks for the registry digest of the image ref names, for the
// deploy's record.
func RepoDigest(ref string) runner.Command {
	return session.Docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", ref)
}

// Discard removes a new container at once, running or not: it never
// served a request.
func Discard(id string) runner.Command { return session.Docker("rm", "--force", id) }

// Drain stops old containers with SIGTERM, giving them drainSeconds to
// finish their requests.
func Drain(ids []string) runner.Command {
	return session.Docker(append([]string{"stop", "--time", drainSeconds}, ids...)...)
}

// Remove removes stopped containers.
func Remove(ids []string) runner.Command { return session.Docker(append([]string{"rm"}, ids...)...) }

// seconds is a duration as compose's --wait-timeout takes it.
func seconds(d time.Duration) string { return fmt.Sprint(int(d.Round(time.Second).Seconds())) }
