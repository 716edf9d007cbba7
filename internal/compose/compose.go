// Package compose builds the docker compose command lines of an environment
// and loads its compose file with compose-go, the loader docker compose uses.
package compose

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/stack"
	"github.com/sirupsen/logrus"
)

// Project is one environment's compose project under a project root.
type Project struct {
	Root string
	Env  *stack.Env
	Name string // the compose project name; containers are labelled with it
	// Override is the generated env override (see EnvOverride), relative to
	// Root, passed after the compose file; "" passes none.
	Override string
	// AlsoEnvFiles are env files (relative to Root) read after the
	// environment's own when the tool loads the file, their values winning:
	// docker:build reads every compose file's build sections with the
	// release environment's values. Compose commands never get them.
	AlsoEnvFiles []string
}

// NewProject names the project prefix-environment (stack.DefaultPrefix
// when prefix is empty).
func NewProject(root string, env *stack.Env, prefix string) Project {
	if prefix == "" {
		prefix = stack.DefaultPrefix
	}
	return Project{Root: root, Env: env, Name: prefix + "-" + env.Environment.Name}
}

// Args is the argv after "docker": compose, the project's name, its compose
// file (and the env override when there is one), the env files in
// precedence order (docker compose lets later files and then the process
// environment win, as LoadEnv does), then args.
func (p Project) Args(args ...string) []string {
	argv := []string{"compose", "--project-name", p.Name, "-f", p.Env.Environment.ComposeFile}
	if p.Override != "" {
		argv = append(argv, "-f", p.Override)
	}
	for _, f := range p.Env.Files {
		argv = append(argv, "--env-file", f)
	}
	return append(argv, args...)
}

// Command is a docker compose command run from the project root.
func (p Project) Command(args ...string) runner.Command {
	return runner.Command{Name: "docker", Args: p.Args(args...), Dir: p.Root}
}

// Load loads and validates the compose file as docker compose would, with
// environ as the process environment. Errors name the compose file.
func (p Project) Load(ctx context.Context, environ []string) (*types.Project, error) {
	return p.load(ctx, environ)
}

// load is Load with more options.
func (p Project) load(ctx context.Context, environ []string, more ...cli.ProjectOptionsFn) (*types.Project, error) {
	// compose-go warns on stderr through logrus (unset variables and the like);
	// the errors we return say what matters.
	logrus.SetOutput(io.Discard)
	file := p.Env.Environment.ComposeFile
	files := []string{filepath.Join(p.Root, file)}
	if p.Override != "" {
		files = append(files, filepath.Join(p.Root, p.Override))
	}
	var envFiles []string
	for _, f := range append(append([]string{}, p.Env.Files...), p.AlsoEnvFiles...) {
		envFiles = append(envFiles, filepath.Join(p.Root, f))
	}
	opts, err := cli.NewProjectOptions(files, append([]cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(p.Root),
		cli.WithName(p.Name),
		cli.WithEnv(environ),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	}, more...)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	project, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", file, oneLine(strings.ReplaceAll(err.Error(), p.Root+string(filepath.Separator), "")))
	}
	return project, nil
}

// ImageRefs lists the images of a loaded project's services, sorted.
func ImageRefs(project *types.Project) []string {
	var refs []string
	for _, s := range project.Services {
		refs = append(refs, s.Image)
	}
	sort.Strings(refs)
	return refs
}

// oneLine keeps the first line of a multi-line error (compose-go joins one
// per key) and says how many more there are.
func oneLine(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%s (and %d more)", lines[0], len(lines)-1)
}
