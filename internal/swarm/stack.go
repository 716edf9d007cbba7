package swarm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
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
// and, when the stack has stateful services, that a node may hold their
// data.
func (s *Stack) requireManager(ctx context.Context, site roles.Site) error {
	out, err := s.Query(ctx, infoCommand())
	if err != nil {
		return s.Explain(ctx, infoCommand(), err)
	}
	if strings.TrimSpace(out) != "active true" {
		return fmt.Errorf("the Docker engine at %s is not a swarm manager (swarm state: %s): run docker swarm init there, or point DOCKER_HOST or DOCKER_CONTEXT at a manager", s.DockerHost(), strings.TrimSpace(out))
	}
	stateful := roles.Names(site.Of(roles.Stateful))
	if len(stateful) == 0 {
		return nil
	}
	ids, err := s.Query(ctx, nodesCommand())
	if err != nil {
		return err
	}
	labels, err := s.Query(ctx, dataLabelsCommand(strings.Fields(ids)))
	if err != nil {
		return err
	}
	if !slices.Contains(strings.Fields(labels), "true") {
		return fmt.Errorf("no swarm node has the label %s=true, so %s (stateful) has nowhere to run: docker node update --label-add %s=true NODE (the node that keeps the data)", DataLabel, strings.Join(stateful, ", "), DataLabel)
	}
	return nil
}

// NamesKeyFile holds the key the secrets' names are made with (Namer),
// relative to the project root: made on the first deploy, mode 0600, git
// ignores it. NamesKeyVariable, when set, wins: a CI keeps the key among
// its secrets, so that its deploys name an unchanged value the same way.
const (
	NamesKeyFile     = ".dtx/swarm-names.key"
	NamesKeyVariable = "DTX_SWARM_NAMES_KEY"
)

// minNamesKey is the shortest key taken (in characters).
const minNamesKey = 32

// namesKey reads (or makes) the key the secrets are named with.
func (s *Stack) namesKey() ([]byte, error) {
	if v := s.Value(NamesKeyVariable); v != "" {
		if len(v) < minNamesKey {
			return nil, fmt.Errorf("%s is shorter than %d characters: use a random one (openssl rand -hex 32)", NamesKeyVariable, minNamesKey)
		}
		s.AddSecrets(v)
		return []byte(v), nil
	}
	file := filepath.Join(s.Root, NamesKeyFile)
	data, err := os.ReadFile(file)
	if err == nil {
		key := strings.TrimSpace(string(data))
		if len(key) < minNamesKey {
			return nil, fmt.Errorf("%s is shorter than %d characters: remove it, and the next deploy makes a new one (every secret is then renamed once, and the services that use one restart)", NamesKeyFile, minNamesKey)
		}
		s.AddSecrets(key)
		return []byte(key), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", NamesKeyFile, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	key := hex.EncodeToString(raw)
	s.AddSecrets(key)
	err = s.Act("generate the key that names the stack's secrets in "+NamesKeyFile+" (mode 0600; the secret names below are then different)", func() error {
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return err
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return fmt.Errorf("%s: %w", NamesKeyFile, err)
		}
		if _, err := f.WriteString(key + "\n"); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", NamesKeyFile, err)
		}
		return f.Close()
	})
	if err != nil {
		return nil, err
	}
	if !s.DryRun {
		s.Say("generated %s (mode 0600), the key that names the stack's secrets: keep it (or set %s) on every machine that deploys, or each renames the secrets and restarts the services that use them", NamesKeyFile, NamesKeyVariable)
	}
	return []byte(key), nil
}

// input gathers what the plan is made from: the compose model, the roles,
// the certificate, the names key and the images' digests.
func (s *Stack) input(ctx context.Context) (Input, error) {
	version, err := s.Env.Version()
	if err != nil {
		return Input{}, err
	}
	project, err := s.Load(ctx)
	if err != nil {
		return Input{}, err
	}
	site, err := s.Site(ctx)
	if err != nil {
		return Input{}, err
	}
	override, err := s.Project.EnvOverride(ctx, s.Environ)
	if err != nil {
		return Input{}, err
	}
	in := Input{Root: s.Root, Project: project, Site: site, Env: s.Env, FromEnvFiles: override.Services,
		HoldsSecret: s.HoldsSecret, Hides: s.Hides, Environ: s.Environ, Version: version, Prefix: s.Name,
		Digests: map[string]string{}}
	key, err := s.namesKey()
	if err != nil {
		return Input{}, err
	}
	in.Names = NewNamer(key)
	if _, ok := site.Proxy(); ok {
		if in.Cert, in.Key, err = s.certificate(); err != nil {
			return Input{}, err
		}
		s.AddSecrets(string(in.Key))
	}
	asked := map[string]bool{}
	var registries *RegistryConfig
	for _, svc := range site.Services {
		if svc.Built && !asked[svc.Image] {
			asked[svc.Image] = true
			if registries == nil {
				registries = s.registryConfig(ctx)
			}
			if d := s.digest(ctx, svc.Image, registries.insecureRegistry(svc.Image)); d != "" {
				in.Digests[svc.Image] = d
			}
		}
	}
	return in, nil
}

// plan derives the stack from the release compose file.
func (s *Stack) plan(ctx context.Context) (*Plan, error) {
	in, err := s.input(ctx)
	if err != nil {
		return nil, err
	}
	return Make(in)
}

// certificate is the certificate the proxy serves: certbot's for DOMAIN
// when this checkout has one (stack.CertbotConfig/live/DOMAIN/), else the
// tool's self-signed one in stack.SSLDir, made when missing. Both are files
// of the machine the tool runs on, never of a node.
func (s *Stack) certificate() (cert, key []byte, err error) {
	domain := s.Env.Value("DOMAIN")
	for _, dir := range []string{filepath.Join(stack.CertbotConfig, "live", domain), stack.SSLDir} {
		c, k, err := readPair(s.Root, dir)
		if err == nil {
			return c, k, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
	}
	names := session.CertNames(domain)
	if s.DryRun {
		s.Say("[dry-run] generate a self-signed certificate for %s in %s/ (the secret names below are then different)", strings.Join(names, ", "), stack.SSLDir)
		return []byte("self-signed certificate"), []byte("<its-private-key>"), nil
	}
	dir := filepath.Join(s.Root, stack.SSLDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	if _, err := certs.EnsureSelfSigned(dir, names, s.Now()); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", stack.SSLDir, err)
	}
	s.Say("generated a self-signed certificate for %s in %s/ (key mode 0600); ./dtx prod:certbot STACK=swarm replaces it", strings.Join(names, ", "), stack.SSLDir)
	return readPair(s.Root, stack.SSLDir)
}

// readPair reads the certificate and key of dir; a key that exists but
// cannot be read (it is nginx's user's, mode 0600, once a hardened stack
// ran on this machine) is said in one line.
func readPair(root, dir string) (cert, key []byte, err error) {
	cert, err = os.ReadFile(filepath.Join(root, dir, CertFile))
	if err != nil {
		return nil, nil, err
	}
	key, err = os.ReadFile(filepath.Join(root, dir, KeyFile))
	if errors.Is(err, fs.ErrPermission) {
		return nil, nil, fmt.Errorf("%s/%s: this user cannot read the private key (it belongs to nginx's user once a stack ran here, mode 0600): run the tool as root on the machine that deploys, or as the key's owner", dir, KeyFile)
	}
	return cert, key, err
}

// registryConfig is which registries the engine reaches in plain HTTP;
// when docker info cannot tell, only the loopback (the engine's default).
func (s *Stack) registryConfig(ctx context.Context) *RegistryConfig {
	out, err := s.Query(ctx, registryConfigCommand())
	if err != nil {
		return &RegistryConfig{}
	}
	c, err := ParseRegistryConfig(out)
	if err != nil {
		if !s.DryRun {
			s.Say("note: %v; only a registry on the loopback is asked in plain HTTP", err)
		}
		return &RegistryConfig{}
	}
	return &c
}

// digest asks the registry for ref's digest (a single-platform manifest),
// "" when it cannot tell: the stack then names the image by its tag.
func (s *Stack) digest(ctx context.Context, ref string, insecure bool) string {
	out, err := s.Query(ctx, manifestCommand(ref, insecure))
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
