package session

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/compose"
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

// Compose runs one docker compose command of the stack's project.
func (st *Stack) Compose(ctx context.Context, args ...string) error {
	return st.Run(ctx, st.Project.Command(args...))
}

// ComposeCommand is a docker compose command of the stack's project.
func (st *Stack) ComposeCommand(args ...string) runner.Command { return st.Project.Command(args...) }
