package swarm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// The secret decisions of the stack file: which variables become Swarm
// secrets, which service gets which, what refuses a deploy, and the
// secrets' names.

// Namer names the stack's secrets PREFIX_LABEL_HASH, HASH the first 12 hex
// digits of an HMAC-SHA256 of the label and the value under a key of the
// machine that deploys (NamesKeyFile): the same value keeps its name, so
// an unchanged secret restarts nothing, and a new value gets a new name,
// so the services roll onto it; but `docker secret ls` shows nothing that
// lets anyone without the key test a guess of the value.
type Namer struct{ key []byte }

// NewNamer names with key.
func NewNamer(key []byte) Namer { return Namer{key: slices.Clone(key)} }

// Name is the secret's name for value.
func (n Namer) Name(prefix, label string, value []byte) string {
	mac := hmac.New(sha256.New, n.key)
	mac.Write([]byte(label))
	mac.Write([]byte{0})
	mac.Write(value)
	return objectName(prefix, label, hex.EncodeToString(mac.Sum(nil))[:12])
}

// environment writes a service's environment: a variable that holds a
// secret (by its name, its .local origin, or a value that contains a
// secret's) becomes a Swarm secret at /run/secrets/KEY with KEY_FILE in the
// environment, when the service names it in its own environment: or
// declares it (x-dtx.secrets); one that only its env_file brings is left
// out (Plan.Notes says so). Any other variable keeps its value, the
// process winning over the env files as in the single-host stacks.
func (b *builder) environment(s *service, svc roles.Service, sc types.ServiceConfig) error {
	in := b.in
	viaFile := map[string]bool{}
	for _, k := range in.FromEnvFiles[svc.Name] {
		viaFile[k] = true
	}
	env := map[string]string{}
	var secret, withheld []string
	values := map[string]string{}
	classify := func(k, v string) {
		switch {
		case !in.HoldsSecret(k) && !in.Hides(v):
			env[k] = escape(v)
		case v == "":
			env[k] = "" // Swarm refuses an empty secret; empty tells nothing
		case viaFile[k] && !slices.Contains(svc.Secrets, k):
			withheld = append(withheld, k)
		default:
			secret = append(secret, k)
			values[k] = v
		}
	}
	for _, k := range sortedKeys(sc.Environment) {
		switch v := sc.Environment[k]; {
		case viaFile[k]:
			classify(k, in.Env.Value(k))
		case v != nil:
			classify(k, *v)
		}
		// A variable set nowhere keeps the image's default.
	}
	for _, k := range svc.Secrets {
		if _, named := sc.Environment[k]; named {
			continue
		}
		v, ok := in.Env.Get(k)
		if !ok {
			return fmt.Errorf("service %s declares %s in %s.secrets, but no env file nor the process sets it: set it in %s", svc.Name, k, roles.Extension, in.Env.Environment.LocalEnvFile())
		}
		classify(k, v)
	}
	for _, k := range secret {
		src := b.addSecret(k, label(k), []byte(values[k]))
		s.Secrets = append(s.Secrets, fileRef{Source: src, Target: k})
		env[k+"_FILE"] = path.Join(SecretsDir, k)
	}
	if len(withheld) > 0 {
		b.p.Notes = append(b.p.Notes, fmt.Sprintf("service %s does not get %s from its env_file: they hold a secret and it does not declare them (%s: {secrets: [%s]})",
			svc.Name, strings.Join(withheld, ", "), roles.Extension, strings.Join(withheld, ", ")))
	}
	if len(env) > 0 {
		s.Environment = env
	}
	return nil
}

// refuseSecrets refuses a service whose definition holds a secret's value
// anywhere but its environment (a command, a health check, an image tag,
// a volume): the stack file is what `docker service inspect` shows, and
// only an environment variable can become a Swarm secret.
func (b *builder) refuseSecrets(name string, sc types.ServiceConfig) error {
	fields := []struct {
		what  string
		texts []string
	}{
		{"image", []string{sc.Image}},
		{"entrypoint", sc.Entrypoint},
		{"command", sc.Command},
		{"working_dir", []string{sc.WorkingDir}},
		{"user", []string{sc.User}},
		{"stop_signal", []string{sc.StopSignal}},
		{"tmpfs", sc.Tmpfs},
		{"the version label", []string{b.in.Version}},
	}
	if sc.HealthCheck != nil {
		fields = append(fields, struct {
			what  string
			texts []string
		}{"healthcheck", sc.HealthCheck.Test})
	}
	if sc.Logging != nil {
		var opts []string
		for _, k := range sortedKeys(sc.Logging.Options) {
			opts = append(opts, sc.Logging.Options[k])
		}
		fields = append(fields, struct {
			what  string
			texts []string
		}{"logging options", opts})
	}
	var mounts []string
	for _, v := range sc.Volumes {
		mounts = append(mounts, v.Source, v.Target)
	}
	fields = append(fields, struct {
		what  string
		texts []string
	}{"volumes", mounts})
	for _, f := range fields {
		for _, t := range f.texts {
			if t != "" && b.in.Hides(t) {
				return fmt.Errorf("service %s: its %s holds the value of %s, and a stack file is readable by whoever inspects the service: pass it through environment: (it then becomes a Swarm secret), or, if it is no secret, set it outside %s",
					name, f.what, b.secretIn(t), b.in.Env.Environment.LocalEnvFile())
			}
		}
	}
	return nil
}

// secretIn names the variable whose secret value text holds, for a
// message; "a secret" when no variable of the env files or the services'
// environments does.
func (b *builder) secretIn(text string) string {
	keys := b.in.Env.Keys()
	for _, kv := range b.in.Environ {
		if k, _, ok := strings.Cut(kv, "="); ok {
			keys = append(keys, k)
		}
	}
	for _, sc := range b.in.Project.Services {
		for k := range sc.Environment {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if v := b.in.Env.Value(k); v != "" && b.in.HoldsSecret(k) && runner.NewMasker(v).Hides(text) {
			return k
		}
	}
	return "a secret"
}
