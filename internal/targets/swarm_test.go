package targets

import (
	"context"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// noEngine points the docker CLI at nothing, so that the read-only probes a
// dry run makes (does a secret exist? the image's digest?) find nothing,
// the same way on every machine.
const noEngine = "DOCKER_HOST=unix:///nonexistent/docker.sock"

const swarmSecret = "swarm-unit-secret-4d3c2b"

func TestSwarmDryRuns(t *testing.T) {
	hash := `[0-9a-f]{12}`
	tests := []struct {
		name string
		run  func(context.Context, *session.Session) error
		env  []string
		want []string // regular expressions, one per printed command, in order
	}{
		{"deploy", SwarmDeploy, nil, []string{
			`^\[dry-run\] generate a self-signed certificate for .*`,
			`^\[dry-run\] docker secret create --label com\.dtx\.stack=dtx dtx_django_secret_key_` + hash + ` - < \(DJANGO_SECRET_KEY\)$`,
			`^\[dry-run\] docker secret create --label com\.dtx\.stack=dtx dtx_nginx_fullchain_` + hash + ` - < \(certificate\)$`,
			`^\[dry-run\] docker secret create --label com\.dtx\.stack=dtx dtx_nginx_privkey_` + hash + ` - < \(private key\)$`,
			`^\[dry-run\] docker config create --label com\.dtx\.stack=dtx dtx_nginx_template_` + hash + ` - < \(nginx template\)$`,
			`^\[dry-run\] docker stack deploy --with-registry-auth --prune -c - dtx < \(the stack file\)$`,
			`^\[dry-run\] wait until every service of dtx has converged or rolled back$`,
		}},
		{"rollback", SwarmRollback, nil, []string{
			`^\[dry-run\] docker service rollback --detach dtx_frontend$`,
			`^\[dry-run\] docker service rollback --detach dtx_backend$`,
			`^\[dry-run\] wait until the rollbacks have ended$`,
		}},
		{"certbot", Certbot, []string{"STACK=swarm", "DOMAIN=example.com"}, []string{
			`^\[dry-run\] mkdir -p nginx/data/certbot/conf nginx/data/certbot/work nginx/data/certbot/logs nginx/data/certbot/www$`,
			`^\[dry-run\] DTX_ROOT=\S+ certbot certonly --manual --preferred-challenges http --manual-auth-hook '\S+ -dtx-swarm-acme-hook auth' --manual-cleanup-hook '\S+ -dtx-swarm-acme-hook cleanup' --cert-name example\.com .*`,
			`^\[dry-run\] then deploy the stack again: nginx rolls onto the new certificate and key secrets$`,
		}},
		{"rm", SwarmRm, nil, []string{
			`^\[dry-run\] docker stack rm dtx$`,
			`^\[dry-run\] wait until the services and networks of dtx are gone, then remove its secrets and configs \(labelled com\.dtx\.stack=dtx\); volumes stay$`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := project(t)
			writeFile(t, root, "docker/.env.release.local", "DJANGO_SECRET_KEY="+swarmSecret+"\n")
			before := tree(t, root)
			o, out, log := options(root, true, append([]string{noEngine}, tc.env...)...)
			if err := o.Do(func(o *session.Session) error { return tc.run(context.Background(), o) }); err != nil {
				t.Fatalf("dry run: %v\n%s", err, log)
			}
			var got []string
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.HasPrefix(l, "[dry-run] ") && !strings.HasPrefix(l, "[dry-run] the stack file") {
					got = append(got, l)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("printed %d commands, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(got[i]) {
					t.Errorf("command %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
			if strings.Contains(log.String()+out.String(), swarmSecret) {
				t.Errorf("the dry run printed the secret:\n%s", log)
			}
			if after := tree(t, root); !slices.Equal(before, after) {
				t.Errorf("the dry run changed the project: %v -> %v", before, after)
			}
		})
	}
}

func TestSwarmDryRunPrintsTheStackFile(t *testing.T) {
	root := project(t)
	writeFile(t, root, "docker/.env.release.local", "DJANGO_SECRET_KEY="+swarmSecret+"\n")
	o, _, log := options(root, true, noEngine, "REGISTRY=reg.example/site", "VERSION=2.0.0")
	if err := o.Do(func(o *session.Session) error { return SwarmDeploy(context.Background(), o) }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`version: "3.8"`,
		"image: reg.example/site/backend:2.0.0", // no digest: the registry is not reachable
		"DJANGO_SECRET_KEY_FILE: /run/secrets/DJANGO_SECRET_KEY",
		"order: start-first",
		"mode: host",
		"node.labels.dtx.redis == true",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the printed stack file has no %q:\n%s", want, log)
		}
	}
}

func TestSwarmDeployNeedsAManager(t *testing.T) {
	root := project(t)
	o, _, _ := options(root, false, noEngine)
	err := o.Do(func(o *session.Session) error { return SwarmDeploy(context.Background(), o) })
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "unix:///nonexistent/docker.sock") {
		t.Fatalf("want one line naming the engine it could not reach, got %v", err)
	}
}
