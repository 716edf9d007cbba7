package swarm

import (
	"context"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// A secret never reaches the stack file, whatever it holds and however it
// is embedded: random secrets of several words (quotes, #, $, \, unicode),
// in the .local file or the process environment, interpolated into the
// compose file's environment: of a routed service, of a worker and of the
// proxy, and into other .local values a worker and a bot declare. Neither
// the bytes given to docker stack deploy nor the dry run's printout hold
// any form of them (runner.Forms: words, escaped and quoted forms, with $
// doubled as the stack file writes it), and each embedding reaches its
// service as a Swarm secret holding the interpolated value.
func TestNoFormOfASecretInTheStackFile(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789'\"$\\`;&|(){}<>*?#=:@/.-_~!%é€ß漢ж")
	word := func() string {
		var b strings.Builder
		for i, n := 0, runner.MinSubstringSecret+rng.Intn(6); i < n; i++ {
			b.WriteRune(alphabet[rng.Intn(len(alphabet))])
		}
		return b.String()
	}
	type embedding struct {
		service, compose, local, key, want string // want: the value the secret holds, with S for the secret
	}
	embeddings := []embedding{
		{service: "backend", compose: `DATABASE_URL: "postgres://app:${DB_PASSWORD}@db/app"`, key: "DATABASE_URL", want: "postgres://app:S@db/app"},
		{service: "worker", compose: `TOKEN_JSON: '{"pw": "${DB_PASSWORD}", "n": 1}'`, key: "TOKEN_JSON", want: `{"pw": "S", "n": 1}`},
		{service: "nginx", compose: `UPSTREAM_AUTH: "Basic ${DB_PASSWORD}"`, key: "UPSTREAM_AUTH", want: "Basic S"},
		{service: "worker", local: "CACHE_URL=redis://:${DB_PASSWORD}@redis:6379/0", key: "CACHE_URL", want: "redis://:S@redis:6379/0"},
		{service: "discord-bot", local: "BOT_TOKEN=${DB_PASSWORD}", key: "BOT_TOKEN", want: "S"},
	}
	rounds := 24
	if testing.Short() {
		rounds = 6
	}
	for round := 0; round < rounds; round++ {
		var parts []string
		for i, n := 0, 1+rng.Intn(4); i < n; i++ {
			parts = append(parts, word())
		}
		secret := strings.Join(parts, " ")
		var chosen []embedding
		for len(chosen) == 0 {
			for _, e := range embeddings {
				if rng.Intn(2) == 0 {
					chosen = append(chosen, e)
				}
			}
		}
		// The secret in the .local file (single-quoted: literal, but for a
		// quote or a final backslash) or in the process environment.
		inLocal := !strings.Contains(secret, "'") && !strings.HasSuffix(secret, `\`) && rng.Intn(3) > 0
		local, environ := "", []string{"REGISTRY=127.0.0.1:9/site", "VERSION=1.2.3"}
		if inLocal {
			local = "DB_PASSWORD='" + secret + "'\n"
		} else {
			environ = append(environ, "DB_PASSWORD="+secret)
		}
		edits := []func(string) string{withWebsite}
		declared := map[string][]string{}
		for _, e := range chosen {
			if e.compose != "" {
				edits = append(edits, addEnv(e.service, e.compose))
			} else {
				local += e.local + "\n"
				declared[e.service] = append(declared[e.service], e.key)
			}
		}
		for svc, keys := range declared {
			edits = append(edits, declare(svc, keys...))
		}
		root := releaseRoot(t, local, edits...)

		p, err := planOf(t, root, nil, environ...)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		o, _, log := newSession(root, true, append([]string{noEngine, NamesKeyVariable + "=" + namesKey}, environ...)...)
		if err := onStack(o, func(s *Stack) error {
			if got := s.Env.Value("DB_PASSWORD"); got != secret {
				t.Fatalf("round %d: the test wrote the secret wrong: read %q, wrote %q", round, got, secret)
			}
			return s.Deploy(context.Background())
		}); err != nil {
			t.Fatalf("round %d: dry run: %v", round, err)
		}
		forms := append(runner.Forms(secret), runner.Forms(escape(secret))...)
		for name, text := range map[string]string{"the stack file": string(p.File), "the dry run's printout": log.String()} {
			for _, f := range forms {
				if strings.Contains(text, f) {
					t.Fatalf("round %d: %s holds %q, a form of the secret %q (embedded %v):\n%s", round, name, f, secret, chosen, text)
				}
			}
		}
		values := map[string]string{}
		for _, s := range p.Secrets {
			values[s.Key] = string(s.Value)
		}
		m := parse(t, p)
		for _, e := range chosen {
			if want := strings.ReplaceAll(e.want, "S", secret); values[e.key] != want {
				t.Errorf("round %d: the secret %s holds %q, want %q", round, e.key, values[e.key], want)
			}
			if got := envOf(t, m, e.service)[e.key+"_FILE"]; got != filepath.Join(SecretsDir, e.key) {
				t.Errorf("round %d: %s gets %s_FILE=%v", round, e.service, e.key, got)
			}
		}
	}
}
