package session

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Stack is one environment opened in a session: its env files read as
// compose reads them (the secrets they hold added to the session's), its
// compose project, and, once Load ran, the compose model.
type Stack struct {
	*Session
	Env     *stack.Env
	Project compose.Project
	model   *types.Project
	site    *roles.Site
}

// Open reads environment name's env files and checks their values. It reads
// files only; nothing runs.
func (s *Session) Open(name string) (*Stack, error) {
	e, err := stack.LookupEnvironment(name)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(s.Root, e.ComposeFile)); err != nil {
		return nil, fmt.Errorf("%s: compose file of environment %q is missing in %s: run the tool from the project root", e.ComposeFile, name, s.Root)
	}
	env, err := stack.LoadEnv(s.Root, e, s.Environ)
	if err != nil {
		return nil, err
	}
	for _, w := range env.Warnings() {
		s.Say("warning: %s", w)
	}
	s.AddSecrets(env.Secrets(s.Environ)...)
	st := &Stack{Session: s, Env: env, Project: compose.NewProject(s.Root, env, s.Prefix())}
	if err := st.checkValues(); err != nil {
		return nil, err
	}
	return st, nil
}

// HoldsSecret tells whether key's value must never be printed or written
// where others read it (a stack file, a service's environment): it is set
// in a .local file, its name says it is a secret, or its value (after
// interpolation) contains a secret's value in any form
// (DATABASE_URL=postgres://app:${DB_PASSWORD}@db/app).
func (st *Stack) HoldsSecret(key string) bool {
	return st.Env.IsLocalOrSecret(key) || st.Hides(st.Env.Value(key))
}

// Name is the environment's name: debug, test, prod or release.
func (st *Stack) Name() string { return st.Env.Environment.Name }

// Load loads and validates the compose file through compose-go, once per
// stack, so that a bad file or a missing required variable stops the
// target before anything runs.
func (st *Stack) Load(ctx context.Context) (*types.Project, error) {
	if st.model != nil {
		return st.model, nil
	}
	model, err := st.Project.Load(ctx, st.Environ)
	if err != nil {
		return nil, err
	}
	st.model = model
	return model, nil
}

// Site is the stack's services with their roles (see internal/roles),
// derived once from the loaded compose model: an image under the
// environment's REGISTRY is one the project builds.
func (st *Stack) Site(ctx context.Context) (roles.Site, error) {
	if st.site != nil {
		return *st.site, nil
	}
	model, err := st.Load(ctx)
	if err != nil {
		return roles.Site{}, err
	}
	prefix := st.Env.Registry() + "/"
	site, err := roles.Derive(model, st.Env.Environment.ComposeFile, func(image string) bool { return strings.HasPrefix(image, prefix) })
	if err != nil {
		return roles.Site{}, err
	}
	st.site = &site
	return site, nil
}

// Proxy is the stack's proxy service (nginx in the starter), or an error
// saying how to declare one.
func (st *Stack) Proxy(ctx context.Context) (roles.Service, error) {
	site, err := st.Site(ctx)
	if err != nil {
		return roles.Service{}, err
	}
	p, ok := site.Proxy()
	if !ok {
		return p, fmt.Errorf("%s has no proxy: the service that publishes port 443 is the proxy, or declare one with %s: {role: proxy}", st.Env.Environment.ComposeFile, roles.Extension)
	}
	return p, nil
}

// Compose runs one docker compose command of the stack's project.
func (st *Stack) Compose(ctx context.Context, args ...string) error {
	return st.Run(ctx, st.Project.Command(args...))
}

// ComposeCommand is a docker compose command of the stack's project.
func (st *Stack) ComposeCommand(args ...string) runner.Command { return st.Project.Command(args...) }
