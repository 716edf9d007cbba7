package deploy

import (
	"fmt"
	"strconv"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// The commands of a deploy, planned here and run by the deployer. The
// compose ones are the arguments after `docker compose -p … -f …`: the
// deployer runs them in the release stack's project with VERSION set.

// drainSeconds is how long an old container gets to finish its requests
// after SIGTERM before it is killed. An app that stops once its requests
// are done (as it must) takes only as long as they do.
const drainSeconds = "30"

// PsArgs lists every container of the project, stopped and one-off ones
// too, as JSON (see ParsePs).
func PsArgs() []string { return []string{"ps", "--all", "--format", "json"} }

// StartArgs start the whole stack on an empty server and wait, wait at
// most, until every service is healthy.
func StartArgs(wait time.Duration) []string {
	return []string{"up", "--detach", "--wait", "--wait-timeout", seconds(wait), "--remove-orphans"}
}

// StartServicesArgs start services that do not run (the plan's Start),
// leaving the others as they are, and wait until they are healthy.
func StartServicesArgs(services []string, wait time.Duration) []string {
	return append([]string{"up", "--detach", "--no-deps", "--no-recreate", "--wait", "--wait-timeout", seconds(wait)}, services...)
}

// RecreateProxyArgs recreate the proxy alone with the version's image and
// wait until it is healthy.
func RecreateProxyArgs(proxy string, wait time.Duration) []string {
	return []string{"up", "--detach", "--no-deps", "--wait", "--wait-timeout", seconds(wait), proxy}
}

// PreDeployArgs run PRE_DEPLOY's words once, in a one-off container of
// service's new image on the stack's network, labelled as the deploy's
// own (PreDeployLabel).
func PreDeployArgs(service string, words []string) []string {
	return append([]string{"run", "--rm", "-T", "--label", PreDeployLabel + "=1", service}, words...)
}

// Scale is one more container of a service: Running run now, the new one
// makes Running+1.
type Scale struct {
	Service string
	Running int
}

// CreateArgs create one new container of each service beside the ones it
// has, without starting it and leaving every other container as it is:
// the roll starts them itself (docker start), the stop-first ones once
// their old one stopped.
func CreateArgs(scales []Scale) []string {
	args := []string{"create", "--no-recreate"}
	var services []string
	for _, s := range scales {
		args = append(args, "--scale", fmt.Sprintf("%s=%d", s.Service, s.Running+1))
		services = append(services, s.Service)
	}
	return append(args, services...)
}

// ReloadArgs reload the proxy (its container) with each routed service
// that pins names (service -> container name, which Docker's DNS resolves)
// on that container, at the port of the service's upstream, and the
// others on their service's name; nil pins nothing. `dtx-nginx reload` is
// the proxy image's contract: it renders the configuration from the
// upstream variables, tests it and reloads gracefully.
func ReloadArgs(proxyContainer string, pins map[string]string, site roles.Site) []string {
	args := []string{"exec"}
	for _, svc := range site.Of(roles.Routed) {
		if container, ok := pins[svc.Name]; ok {
			args = append(args, "--env", svc.Upstream+"="+container+":"+svc.Port)
		}
	}
	return append(args, proxyContainer, "dtx-nginx", "reload")
}

// EventsArgs stream, from since until until, the events of the project's
// containers the wait for new ones decides by: started, died (an exit, a
// kill, a restart) and every change of health; one "ID ACTION" line each.
// The end bounds the stream if the deploy is killed with -9, which leaves
// its children behind.
func EventsArgs(project string, since, until time.Time) []string {
	return []string{"events", "--since", unixSeconds(since), "--until", unixSeconds(until),
		"--filter", "type=container", "--filter", "label=com.docker.compose.project=" + project,
		"--filter", "event=start", "--filter", "event=die", "--filter", "event=health_status",
		"--format", "{{.ID}} {{.Action}}"}
}

func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

// Pull pulls one image of the version, printing only its name.
func Pull(ref string) runner.Command { return session.Docker("pull", "--quiet", ref) }

// Reload runs ReloadArgs.
func Reload(args []string) runner.Command { return session.Docker(args...) }

// Start starts created or stopped containers.
func Start(ids []string) runner.Command { return session.Docker(append([]string{"start"}, ids...)...) }

// Events runs EventsArgs.
func Events(args []string) runner.Command { return session.Docker(args...) }

// InspectState asks for a container's state (HealthFormat).
func InspectState(id string) runner.Command {
	return session.Docker("inspect", "--format", HealthFormat, id)
}

// HealthLogFormat is docker inspect's template for a container's last
// health checks, one "EXIT OUTPUT" line each (the output JSON-quoted): a
// check that timed out says so, which tells a machine too loaded to answer
// in time from an app that answers wrong.
const HealthLogFormat = "{{if .State.Health}}{{range .State.Health.Log}}{{.ExitCode}} {{json .Output}}\n{{end}}{{end}}"

// HealthLog asks for a container's last health checks (HealthLogFormat).
func HealthLog(id string) runner.Command {
	return session.Docker("inspect", "--format", HealthLogFormat, id)
}

// Logs are the last lines a container wrote, shown when it failed.
func Logs(id string) runner.Command { return session.Docker("logs", "--tail", "20", id) }

// ImageID asks for the ID of the image ref names now.
func ImageID(ref string) runner.Command {
	return session.Docker("image", "inspect", "--format", "{{.Id}}", ref)
}

// RepoDigest asks for the registry digest of the image ref names, for the
// deploy's record.
func RepoDigest(ref string) runner.Command {
	return session.Docker("image", "inspect", "--format", "{{index .RepoDigests 0}}", ref)
}

// Discard removes containers at once, running or not: new ones that never
// served, leftovers.
func Discard(ids []string) runner.Command {
	return session.Docker(append([]string{"rm", "--force"}, ids...)...)
}

// Drain stops old containers with SIGTERM, giving them drainSeconds to
// finish their requests.
func Drain(ids []string) runner.Command {
	return session.Docker(append([]string{"stop", "--time", drainSeconds}, ids...)...)
}

// Remove removes stopped containers.
func Remove(ids []string) runner.Command { return session.Docker(append([]string{"rm"}, ids...)...) }

// seconds is a duration as compose's --wait-timeout takes it.
func seconds(d time.Duration) string { return fmt.Sprint(int(d.Round(time.Second).Seconds())) }
