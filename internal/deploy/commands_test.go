package deploy

import (
	"slices"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

func TestPlannedArgv(t *testing.T) {
	docker := func(c runner.Command) []string { return append([]string{c.Name}, c.Args...) }
	since := time.Date(2026, 12, 6, 23, 42, 19, 402_000_000, time.UTC)
	for _, c := range []struct {
		name      string
		got, want []string
	}{
		{"ps", PsArgs(), []string{"ps", "--all", "--format", "json"}},
		{"start", StartArgs(90 * time.Second), []string{"up", "--detach", "--wait", "--wait-timeout", "90", "--remove-orphans"}},
		{"start, wait rounded", StartArgs(1500 * time.Millisecond), []string{"up", "--detach", "--wait", "--wait-timeout", "2", "--remove-orphans"}},
		{"start services", StartServicesArgs([]string{"redis", "db"}, time.Minute), []string{"up", "--detach", "--no-deps", "--no-recreate", "--wait", "--wait-timeout", "60", "redis", "db"}},
		{"recreate the proxy", RecreateProxyArgs("nginx", 2*time.Minute), []string{"up", "--detach", "--no-deps", "--wait", "--wait-timeout", "120", "nginx"}},
		{"pre-deploy", PreDeployArgs("backend", []string{"python", "manage.py", "migrate"}), []string{"run", "--rm", "-T", "--label", "dtx.pre-deploy=1", "backend", "python", "manage.py", "migrate"}},
		{"create beside", CreateArgs([]Scale{{"backend", 1}, {"frontend", 1}, {"beat", 1}, {"worker", 0}}),
			[]string{"create", "--no-recreate", "--scale", "backend=2", "--scale", "frontend=2", "--scale", "beat=2", "--scale", "worker=1", "backend", "frontend", "beat", "worker"}},
		{"events", EventsArgs("p-release", since, since.Add(5*time.Minute)), []string{"events", "--since", "1796600539.402", "--until", "1796600839.402", "--filter", "type=container", "--filter", "label=com.docker.compose.project=p-release",
			"--filter", "event=start", "--filter", "event=die", "--filter", "event=health_status", "--format", "{{.ID}} {{.Action}}"}},
		{"pull", docker(Pull("r/backend:1.2.0")), []string{"docker", "pull", "--quiet", "r/backend:1.2.0"}},
		{"start containers", docker(Start([]string{"e54b584df863", "1c59fe062f36"})), []string{"docker", "start", "e54b584df863", "1c59fe062f36"}},
		{"state", docker(InspectState("e54b584df863")), []string{"docker", "inspect", "--format", "{{.State.Status}} {{.RestartCount}} {{.State.StartedAt}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", "e54b584df863"}},
		{"logs", docker(Logs("e54b584df863")), []string{"docker", "logs", "--tail", "20", "e54b584df863"}},
		{"image ID", docker(ImageID("r/nginx:1.2.0")), []string{"docker", "image", "inspect", "--format", "{{.Id}}", "r/nginx:1.2.0"}},
		{"digest", docker(RepoDigest("r/nginx:1.2.0")), []string{"docker", "image", "inspect", "--format", "{{index .RepoDigests 0}}", "r/nginx:1.2.0"}},
		{"discard", docker(Discard([]string{"e54b584df863"})), []string{"docker", "rm", "--force", "e54b584df863"}},
		{"drain", docker(Drain([]string{"cad3e18e50cd", "1c59fe062f36"})), []string{"docker", "stop", "--time", "30", "cad3e18e50cd", "1c59fe062f36"}},
		{"remove", docker(Remove([]string{"cad3e18e50cd", "1c59fe062f36"})), []string{"docker", "rm", "cad3e18e50cd", "1c59fe062f36"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %q\nwant %q", c.name, c.got, c.want)
		}
	}
}

// The proxy's reload pins each routed service, in the site's order, on the
// port of its own upstream variable, as the compose file declares them; a
// worker is never pinned.
func TestReloadArgs(t *testing.T) {
	site := loadSite(t, "compose-workers.yaml")
	for _, c := range []struct {
		name string
		pins map[string]string
		want []string
	}{
		{"nothing pinned", nil, []string{"exec", "p-nginx-1", "dtx-nginx", "reload"}},
		{"both", map[string]string{"frontend": "p-frontend-2", "backend": "p-backend-2"},
			[]string{"exec", "--env", "BACKEND_UPSTREAM=p-backend-2:8000", "--env", "FRONTEND_UPSTREAM=p-frontend-2:3000", "p-nginx-1", "dtx-nginx", "reload"}},
		{"one, and a worker that is no upstream", map[string]string{"backend": "p-backend-1", "worker": "p-worker-2"},
			[]string{"exec", "--env", "BACKEND_UPSTREAM=p-backend-1:8000", "p-nginx-1", "dtx-nginx", "reload"}},
	} {
		if got := ReloadArgs("p-nginx-1", c.pins, site); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q\nwant %q", c.name, got, c.want)
		}
	}
}
