package swarm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Stack is the release environment opened for a swarm target, and the
// Swarm stack it is deployed as.
type Stack struct {
	*session.Stack
	Name string // the Swarm stack's name: the compose project prefix
}

// Open opens the release environment for a swarm target. It reads files
// only; nothing runs.
func Open(o *session.Session) (*Stack, error) {
	s, err := o.Open("release")
	if err != nil {
		return nil, err
	}
	return &Stack{Stack: s, Name: o.Prefix()}, nil
}

// requireManager checks that the engine the CLI talks to manages a swarm
// and that one of its nodes may hold redis.
func (s *Stack) requireManager(ctx context.Context) error {
	out, err := s.Query(ctx, infoCommand())
	if err != nil {
		return s.Explain(ctx, infoCommand(), err)
	}
	if strings.TrimSpace(out) != "active true" {
		return fmt.Errorf("the Docker engine at %s is not a swarm manager (swarm state: %s): run docker swarm init there, or point DOCKER_HOST or DOCKER_CONTEXT at a manager", s.DockerHost(), strings.TrimSpace(out))
	}
	ids, err := s.Query(ctx, nodesCommand())
	if err != nil {
		return err
	}
	labels, err := s.Query(ctx, redisLabelsCommand(strings.Fields(ids)))
	if err != nil {
		return err
	}
	if !slices.Contains(strings.Fields(labels), "true") {
		return fmt.Errorf("no swarm node has the label %s=true, so redis has nowhere to run: docker node update --label-add %s=true NODE (the node that keeps redis's data)", RedisLabel, RedisLabel)
	}
	return nil
}

// plan derives the stack from the release compose file.
func (s *Stack) plan(ctx context.Context) (*Plan, error) {
	version, err := s.Env.Version()
	if err != nil {
		return nil, err
	}
	project, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	tmpl, err := os.ReadFile(filepath.Join(s.Root, "nginx/default.template.conf"))
	if err != nil {
		return nil, fmt.Errorf("nginx/default.template.conf: %w: restore it from git", err)
	}
	cert, key, err := s.nginxCertificate()
	if err != nil {
		return nil, err
	}
	s.AddSecrets(string(key))
	digests := map[string]string{}
	for _, sc := range project.Services {
		if strings.HasPrefix(sc.Image, s.Env.Registry()+"/") {
			if d := s.digest(ctx, sc.Image); d != "" {
				digests[sc.Image] = d
			}
		}
	}
	return Make(Input{Project: project, Env: s.Env, Prefix: s.Name, Version: version,
		Template: tmpl, Cert: cert, Key: key, Digests: digests})
}

// nginxCertificate is the certificate nginx serves: certbot's for DOMAIN
// when this checkout has one (nginx/data/certbot/conf/live/DOMAIN/), else the
// tool's self-signed one in nginx/data/ssl/, made when missing. Both are
// files of the machine the tool runs on, never of a node.
func (s *Stack) nginxCertificate() (cert, key []byte, err error) {
	domain := s.Env.Value("DOMAIN")
	for _, dir := range []string{filepath.Join("nginx/data/certbot/conf/live", domain), "nginx/data/ssl"} {
		c, cerr := os.ReadFile(filepath.Join(s.Root, dir, CertFile))
		k, kerr := os.ReadFile(filepath.Join(s.Root, dir, KeyFile))
		if cerr == nil && kerr == nil {
			return c, k, nil
		}
	}
	names := session.CertNames(domain)
	if s.DryRun {
		s.Say("[dry-run] generate a self-signed certificate for %s in nginx/data/ssl/ (the secret names below are then different)", strings.Join(names, ", "))
		return []byte("self-signed certificate"), []byte("<its-private-key>"), nil
	}
	dir := filepath.Join(s.Root, "nginx/data/ssl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	if _, err := certs.EnsureSelfSigned(dir, names, s.Now()); err != nil {
		return nil, nil, fmt.Errorf("nginx/data/ssl: %w", err)
	}
	s.Say("generated a self-signed certificate for %s in nginx/data/ssl/ (key mode 0600); ./dtx prod:certbot STACK=swarm replaces it", strings.Join(names, ", "))
	return s.nginxCertificate()
}

// digest asks the registry for ref's digest (a single-platform manifest),
// "" when it cannot tell: the stack then names the image by its tag.
func (s *Stack) digest(ctx context.Context, ref string) string {
	out, err := s.Query(ctx, manifestCommand(ref))
	if err != nil {
		if !s.DryRun {
			s.Say("note: %s: no digest from the registry (%v); the stack names it by its tag", ref, err)
		}
		return ""
	}
	return ManifestDigest(out)
}

// ManifestDigest is the digest `docker manifest inspect -v` prints for a
// single-platform image, "" for a manifest list (docker stack deploy then
// resolves the tag) or anything else.
func ManifestDigest(out string) string {
	var m struct{ Descriptor struct{ Digest string } }
	if json.Unmarshal([]byte(out), &m) != nil || !strings.HasPrefix(m.Descriptor.Digest, "sha256:") {
		return ""
	}
	return m.Descriptor.Digest
}
