package deploy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

func TestPlannedArgv(t *testing.T) {
	docker := func(c runner.Command) []string { return append([]string{c.Name}, c.Args...) }
	for _, c := range []struct {
		name      string
		got, want []string
	}{
		{"ps", PsArgs(), []string{"ps", "--all", "--format", "json"}},
		{"start", StartArgs(90 * time.Second), []string{"up", "--detach", "--wait", "--wait-timeout", "90", "--remove-orphans"}},
		{"start, wait rounded", StartArgs(1500 * time.Millisecond), []string{"up", "--detach", "--wait", "--wait-timeout", "2", "--remove-orphans"}},
		{"recreate nginx", RecreateProxyArgs(2 * time.Minute), []string{"up", "--detach", "--no-deps", "--wait", "--wait-timeout", "120", "nginx"}},
		{"pre-deploy", PreDeployArgs([]string{"python", "manage.py", "migrate"}), []string{"run", "--rm", "-T", "backend", "python", "manage.py", "migrate"}},
		{"scale up beside one", ScaleUpArgs("backend", 1), []string{"up", "--detach", "--no-deps", "--no-recreate", "--scale", "backend=2", "backend"}},
		{"scale up on none", ScaleUpArgs("frontend", 0), []string{"up", "--detach", "--no-deps", "--no-recreate", "--scale", "frontend=1", "frontend"}},
		{"pull", docker(Pull("r/backend:1.2.0")), []string{"docker", "pull", "r/backend:1.2.0"}},
		{"health", docker(InspectHealth("e54b584df863")), []string{"docker", "inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", "e54b584df863"}},
		{"logs", docker(Logs("e54b584df863")), []string{"docker", "logs", "--tail", "20", "e54b584df863"}},
		{"image ID", docker(ImageID("r/nginx:1.2.0")), []string{"docker", "image", "inspect", "--format", "{{.Id}}", "r/nginx:1.2.0"}},
		{"container image", docker(ContainerImage("8d62c41e48b6")), []string{"docker", "inspect", "--format", "{{.Image}}", "8d62c41e48b6"}},
		{"digest", docker(RepoDigest("r/nginx:1.2.0")), []string{"docker", "image", "inspect", "--format", "{{index .RepoDigests 0}}", "r/nginx:1.2.0"}},
		{"discard", docker(Discard("e54b584df863")), []string{"docker", "rm", "--force", "e54b584df863"}},
		{"drain", docker(Drain([]string{"cad3e18e50cd", "1c59fe062f36"})), []string{"docker", "stop", "--time", "30", "cad3e18e50cd", "1c59fe062f36"}},
		{"remove", docker(Remove([]string{"cad3e18e50cd", "1c59fe062f36"})), []string{"docker", "rm", "cad3e18e50cd", "1c59fe062f36"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %q\nwant %q", c.name, c.got, c.want)
		}
	}
}

// nginx's reload pins each rolled service, in the services' order, on the
// port of its own upstream variable.
func TestReloadArgs(t *testing.T) {
	env := map[string]string{"FRONTEND_UPSTREAM": "frontend:3000", "BACKEND_UPSTREAM": "backend:8000"}
	for _, c := range []struct {
		name string
		pins map[string]string
		want []string
	}{
		{"nothing pinned", nil, []string{"exec", "-T", "nginx", "dtx-nginx", "reload"}},
		{"both", map[string]string{"backend": "p-backend-2", "frontend": "p-frontend-2"},
			[]string{"exec", "-T", "--env", "FRONTEND_UPSTREAM=p-frontend-2:3000", "--env", "BACKEND_UPSTREAM=p-backend-2:8000", "nginx", "dtx-nginx", "reload"}},
		{"one", map[string]string{"backend": "p-backend-1"},
			[]string{"exec", "-T", "--env", "BACKEND_UPSTREAM=p-backend-1:8000", "nginx", "dtx-nginx", "reload"}},
	} {
		got, err := ReloadArgs(c.pins, env)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, %v\nwant %q", c.name, got, err, c.want)
		}
	}
	_, err := ReloadArgs(map[string]string{"backend": "p-backend-2"}, map[string]string{"BACKEND_UPSTREAM": "backend"})
	if err == nil || err.Error() != `BACKEND_UPSTREAM of nginx is "backend": want HOST:PORT` || strings.Contains(err.Error(), "\n") {
		t.Errorf("an upstream without a port: %v", err)
	}
}
