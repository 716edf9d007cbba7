package swarm

import (
	"io"
	"slices"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// Every docker command of the swarm targets, argv by argv: what the run
// sends to the manager (and a dry run prints).
func TestCommands(t *testing.T) {
	s := &Stack{Name: "dtx"}
	obj := Object{Name: "dtx_django_secret_key_0123456789ab", Key: "DJANGO_SECRET_KEY", Value: []byte("s3cret")}
	filter := "label=com.docker.stack.namespace=dtx"
	leftovers := s.leftoverCommands()
	tests := []struct {
		name string
		c    runner.Command
		want []string
	}{
		{"info", infoCommand(), []string{"info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"}},
		{"nodes", nodesCommand(), []string{"node", "ls", "-q"}},
		{"data labels", dataLabelsCommand([]string{"n1", "n2"}), []string{"node", "inspect", "--format", `{{index .Spec.Labels "dtx.data"}}`, "n1", "n2"}},
		{"manifest, HTTPS registry", manifestCommand("reg.example/site/nginx:1.2.3", false), []string{"manifest", "inspect", "-v", "reg.example/site/nginx:1.2.3"}},
		{"manifest, plain-HTTP registry", manifestCommand("10.213.7.1:5000/dtx/nginx:1.2.3", true), []string{"manifest", "inspect", "-v", "--insecure", "10.213.7.1:5000/dtx/nginx:1.2.3"}},
		{"registry config", registryConfigCommand(), []string{"info", "--format", "{{json .RegistryConfig}}"}},
		{"secret exists", existsCommand(secretKind, obj.Name), []string{"secret", "inspect", "--format", "{{.ID}}", obj.Name}},
		{"config exists", existsCommand(configKind, "dtx_nginx_template_0123"), []string{"config", "inspect", "--format", "{{.ID}}", "dtx_nginx_template_0123"}},
		{"secret create", s.createCommand(secretKind, obj), []string{"secret", "create", "--label", "com.dtx.stack=dtx", obj.Name, "-"}},
		{"stack deploy", s.deployCommand([]byte("version: \"3.8\"\n")), []string{"stack", "deploy", "--with-registry-auth", "--prune", "-c", "-", "dtx"}},
		{"rollback", s.rollbackCommand("backend"), []string{"service", "rollback", "--detach", "dtx_backend"}},
		{"update status", s.updateStatusCommand("frontend"), []string{"service", "inspect", "--format", "{{json .UpdateStatus}}", "dtx_frontend"}},
		{"replicas", s.replicasCommand(), []string{"service", "ls", "--filter", filter, "--format", "{{.Name}} {{.Replicas}}"}},
		{"tasks", s.tasksCommand(), []string{"stack", "ps", "--no-trunc", "--format", "{{.ID}}|{{.Name}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}", "dtx"}},
		{"task", taskCommand("l1peevzg1ssy"), []string{"inspect", "--type", "task", "--format", "{{.Status.State}}: {{.Status.Err}}{{.Status.Message}}|{{.Status.ContainerStatus.ContainerID}}", "l1peevzg1ssy"}},
		{"health", healthCommand("f0e1fa888b23"), []string{"inspect", "--type", "container", "--format", "{{json .State.Health}}", "f0e1fa888b23"}},
		{"service IDs", s.serviceIDsCommand(), []string{"service", "ls", "-q", "--filter", filter}},
		{"ps services", psServicesCommand([]string{"a1", "b2"}), []string{"service", "inspect", "--format",
			`{{.Spec.Name}} {{index .Spec.Labels "com.dtx.version"}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{else}}-{{end}} {{.Spec.TaskTemplate.ContainerSpec.Image}}`, "a1", "b2"}},
		{"ps tasks", s.psTasksCommand(), []string{"stack", "ps", "dtx", "--format", "table {{.Name}}\t{{.Image}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}"}},
		{"stack rm", s.removeCommand(), []string{"stack", "rm", "dtx"}},
		{"services left", leftovers[0], []string{"service", "ls", "-q", "--filter", filter}},
		{"networks left", leftovers[1], []string{"network", "ls", "-q", "--filter", filter}},
		{"containers left", leftovers[2], []string{"ps", "-aq", "--filter", filter}},
		{"own secrets", s.ownedCommand(secretKind), []string{"secret", "ls", "-q", "--filter", "label=com.dtx.stack=dtx"}},
		{"own configs", s.ownedCommand(configKind), []string{"config", "ls", "-q", "--filter", "label=com.dtx.stack=dtx"}},
		{"remove secrets", removeObjectsCommand(secretKind, []string{"x1", "x2"}), []string{"secret", "rm", "x1", "x2"}},
		{"services inspected", servicesInspectCommand([]string{"a1", "b2"}), []string{"service", "inspect", "a1", "b2"}},
		{"own secrets by name", s.objectsCommand(secretKind), []string{"secret", "ls", "--filter", "label=com.dtx.stack=dtx", "--format", "{{.ID}} {{.Name}}"}},
		{"own configs by name", s.objectsCommand(configKind), []string{"config", "ls", "--filter", "label=com.dtx.stack=dtx", "--format", "{{.ID}} {{.Name}}"}},
		{"versions", versionsCommand([]string{"a1"}), []string{"service", "inspect", "--format",
			`{{.Spec.Name}}|{{index .Spec.Labels "com.dtx.version"}}|{{with .PreviousSpec}}+{{index .Labels "com.dtx.version"}}{{end}}`, "a1"}},
		{"proxy exists", s.serviceIDCommand("nginx"), []string{"service", "inspect", "--format", "{{.ID}}", "dtx_nginx"}},
		{"proxy image", s.serviceImageCommand("nginx"), []string{"service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "dtx_nginx"}},
		{"challenge auth", s.challengeJobCommand("dtx_acme_auth_1", "reg/nginx@sha256:ab", "/var/www/certbot/", "auth", "tok-EN_1", "tok-EN_1.thumb"), []string{
			"service", "create", "--detach", "--quiet", "--name", "dtx_acme_auth_1", "--mode", "global-job",
			"--restart-condition", "none", "--label", "com.dtx.stack=dtx", "--user", "0:0",
			"--mount", "type=volume,source=dtx_certbot_www,target=/var/www/certbot",
			"reg/nginx@sha256:ab", "sh", "-c", `mkdir -p "$1" && printf %s "$3" > "$1/$2"`, "sh",
			"/var/www/certbot/.well-known/acme-challenge", "tok-EN_1", "tok-EN_1.thumb"}},
		{"challenge cleanup", s.challengeJobCommand("dtx_acme_cleanup_2", "reg/nginx:1", "/var/www/certbot", "cleanup", "tok", "tok.thumb"), []string{
			"service", "create", "--detach", "--quiet", "--name", "dtx_acme_cleanup_2", "--mode", "global-job",
			"--restart-condition", "none", "--label", "com.dtx.stack=dtx", "--user", "0:0",
			"--mount", "type=volume,source=dtx_certbot_www,target=/var/www/certbot",
			"reg/nginx:1", "sh", "-c", `rm -f "$1/$2"`, "sh", "/var/www/certbot/.well-known/acme-challenge", "tok", "tok.thumb"}},
		{"job tasks", jobTasksCommand("dtx_acme_auth_1"), []string{"service", "ps", "--format", "{{.CurrentState}}|{{.Error}}", "dtx_acme_auth_1"}},
		{"job rm", removeServiceCommand("dtx_acme_auth_1"), []string{"service", "rm", "dtx_acme_auth_1"}},
	}
	for _, tc := range tests {
		if tc.c.Name != "docker" || !slices.Equal(tc.c.Args, tc.want) {
			t.Errorf("%s:\n got %s %q\nwant docker %q", tc.name, tc.c.Name, tc.c.Args, tc.want)
		}
	}
	if len(leftovers) != 3 {
		t.Errorf("swarm:rm waits on %d listings, want services, networks and containers", len(leftovers))
	}
}

// A value reaches docker on stdin, never on the command line, and the
// printed command names what it is instead.
func TestObjectValueGoesOnStdin(t *testing.T) {
	s := &Stack{Name: "dtx"}
	c := s.createCommand(secretKind, Object{Name: "dtx_k_1", Key: "DJANGO_SECRET_KEY", Value: []byte("s3cret")})
	in, err := io.ReadAll(c.Stdin)
	if err != nil || string(in) != "s3cret" {
		t.Fatalf("stdin: %q %v", in, err)
	}
	if got, want := c.String(), "docker secret create --label com.dtx.stack=dtx dtx_k_1 - < (DJANGO_SECRET_KEY)"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
	if got, want := s.deployCommand([]byte("x")).String(), "docker stack deploy --with-registry-auth --prune -c - dtx < (the stack file)"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
}

// Which registries are asked for digests in plain HTTP, from what docker
// info printed on an engine started with --insecure-registry
// 10.213.37.1:45179 (a node of test/e2e's TestCluster) and the default
// 127.0.0.0/8 range, plus a range given as a CIDR.
func TestInsecureRegistry(t *testing.T) {
	const info = `{"AllowNondistributableArtifactsCIDRs":null,"AllowNondistributableArtifactsHostnames":null,"InsecureRegistryCIDRs":["127.0.0.0/8","192.168.50.0/24"],"IndexConfigs":{"10.213.37.1:45179":{"Name":"10.213.37.1:45179","Mirrors":[],"Secure":false,"Official":false},"docker.io":{"Name":"docker.io","Mirrors":[],"Secure":true,"Official":true}},"Mirrors":null}`
	c, err := ParseRegistryConfig(info + "\n")
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]bool{
		"10.213.37.1:45179/dtxcluster/nginx:1": true,  // --insecure-registry HOST:PORT
		"10.213.37.1:5000/dtxcluster/nginx:1":  false, // another port of that host: HTTPS
		"192.168.50.7:5000/site/backend:2":     true,  // in an insecure range
		"127.0.0.1:5000/dtx/nginx:1.2.3":       true,  // the loopback
		"localhost:5000/dtx/nginx:1":           true,
		"reg.example/site/nginx:1.2.3":         false,
		"docker.io/library/redis:7":            false,
	} {
		if got := c.insecureRegistry(ref); got != want {
			t.Errorf("insecureRegistry(%s) = %v, want %v", ref, got, want)
		}
	}
	// When docker info cannot tell, the loopback alone is plain HTTP.
	var none RegistryConfig
	if !none.insecureRegistry("127.0.0.1:5000/dtx/nginx:1") || none.insecureRegistry("10.213.37.1:45179/dtxcluster/nginx:1") {
		t.Error("with no registry config, only the loopback should be plain HTTP")
	}
	if _, err := ParseRegistryConfig("Error response from daemon"); err == nil {
		t.Error("ParseRegistryConfig accepted what is not JSON")
	}
}
