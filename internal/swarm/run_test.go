package swarm

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// noEngine points the docker CLI at nothing, so that the read-only probes a
// dry run makes (does a secret exist? the image's digest?) find nothing,
// the same way on every machine.
const noEngine = "DOCKER_HOST=unix:///nonexistent/docker.sock"

const swarmSecret = "swarm-unit-secret-4d3c2b"

// newSession is a session over root whose output the test reads.
func newSession(root string, dry bool, environ ...string) (o *session.Session, out, log *bytes.Buffer) {
	out, log = &bytes.Buffer{}, &bytes.Buffer{}
	env := append([]string{"PATH=" + os.Getenv("PATH")}, environ...)
	return session.New(session.Config{Root: root, Environ: env, DryRun: dry, Stdout: out, Stderr: log}), out, log
}

// onStack opens the swarm stack in o and runs fn on it, as the targets do.
func onStack(o *session.Session, fn func(*Stack) error) error {
	return o.Do(func(o *session.Session) error {
		s, err := Open(o)
		if err != nil {
			return err
		}
		return fn(s)
	})
}

// files lists every file under root, to prove a run wrote nothing.
func files(t *testing.T, root string) []string {
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		paths = append(paths, rel)
		return nil
	})
	return paths
}

func TestDryRuns(t *testing.T) {
	ctx := context.Background()
	hash := `[0-9a-f]{12}`
	tests := []struct {
		name string
		run  func(*Stack) error
		env  []string
		want []string // regular expressions, one per printed command, in order
	}{
		{"deploy", func(s *Stack) error { return s.Deploy(ctx) }, nil, []string{
			`^\[dry-run\] generate the key that names the stack's secrets in \.dtx/swarm-names\.key \(mode 0600; the secret names below are then different\)$`,
			`^\[dry-run\] generate a self-signed certificate for .*`,
			`^\[dry-run\] docker secret create --label com\.dtx\.stack=dtx dtx_django_secret_key_` + hash + ` - < \(DJANGO_SECRET_KEY\)$`,
			`^\[dry-run\] docker secret create --label com\.dtx\.stack=dtx dtx_nginx_fullchain_` + hash + ` - < \(certificate\)$`,
			`^\[dry-run\] docker secret create --label com\.dtx\.stack=dtx dtx_nginx_privkey_` + hash + ` - < \(private key\)$`,
			`^\[dry-run\] docker config create --label com\.dtx\.stack=dtx dtx_nginx_default_template_conf_` + hash + ` - < \(nginx/default\.template\.conf\)$`,
			`^\[dry-run\] docker stack deploy --with-registry-auth --prune -c - dtx < \(the stack file\)$`,
			`^\[dry-run\] wait until every service of dtx has converged or rolled back$`,
		}},
		{"rollback", func(s *Stack) error { return s.Rollback(ctx) }, nil, []string{
			`^\[dry-run\] roll back every service of dtx that has a previous spec \(the manager does not answer: which is not known\)$`,
		}},
		{"certbot", func(s *Stack) error { return s.Certbot(ctx) }, []string{"DOMAIN=example.com"}, []string{
			`^\[dry-run\] mkdir -p nginx/data/certbot/conf nginx/data/certbot/work nginx/data/certbot/logs nginx/data/certbot/www$`,
			`^\[dry-run\] DTX_ROOT=\S+ certbot certonly --manual --preferred-challenges http --manual-auth-hook '\S+ -dtx-swarm-acme-hook auth' --manual-cleanup-hook '\S+ -dtx-swarm-acme-hook cleanup' --cert-name example\.com .*`,
			`^\[dry-run\] then deploy the stack again: nginx rolls onto the new certificate and key secrets$`,
		}},
		{"rm", func(s *Stack) error { return s.Rm(ctx) }, nil, []string{
			`^\[dry-run\] docker stack rm dtx$`,
			`^\[dry-run\] wait until the services and networks of dtx are gone, then remove its secrets and configs \(labelled com\.dtx\.stack=dtx\); volumes stay$`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := releaseRoot(t, "DJANGO_SECRET_KEY="+swarmSecret+"\n", declare("backend", "DJANGO_SECRET_KEY"))
			before := files(t, root)
			o, out, log := newSession(root, true, append([]string{noEngine}, tc.env...)...)
			if err := onStack(o, tc.run); err != nil {
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
			if after := files(t, root); !slices.Equal(before, after) {
				t.Errorf("the dry run changed the project: %v -> %v", before, after)
			}
		})
	}
}

func TestDryRunPrintsTheStackFile(t *testing.T) {
	root := releaseRoot(t, "DJANGO_SECRET_KEY="+swarmSecret+"\n", declare("backend", "DJANGO_SECRET_KEY"))
	o, _, log := newSession(root, true, noEngine, "REGISTRY=reg.example/site", "VERSION=2.0.0")
	if err := onStack(o, func(s *Stack) error { return s.Deploy(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`version: "3.8"`,
		"image: reg.example/site/backend:2.0.0", // no digest: the registry is not reachable
		"DJANGO_SECRET_KEY_FILE: /run/secrets/DJANGO_SECRET_KEY",
		"order: start-first",
		"mode: host",
		"node.labels.dtx.data == true",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the printed stack file has no %q:\n%s", want, log)
		}
	}
}

func TestDeployNeedsAManager(t *testing.T) {
	root := releaseRoot(t, "")
	o, _, _ := newSession(root, false, noEngine)
	err := onStack(o, func(s *Stack) error { return s.Deploy(context.Background()) })
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "unix:///nonexistent/docker.sock") {
		t.Fatalf("want one line naming the engine it could not reach, got %v", err)
	}
}
