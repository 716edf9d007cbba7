package compose

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"

	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Plain `docker compose -f docker-compose.<env>.yaml …`, typed without the
// tool's --project-name, names the same project as the tool: each file's
// `name:` follows the tool's prefix rule.
func TestPlainComposeNamesTheToolsProject(t *testing.T) {
	for _, prefix := range []string{"", "site2"} {
		for _, e := range stack.Environments {
			t.Run(e.Name+"/prefix="+prefix, func(t *testing.T) {
				environ := []string{}
				if prefix != "" {
					environ = append(environ, "COMPOSE_PROJECT_PREFIX="+prefix)
				}
				env, err := stack.LoadEnv(repoRoot, e, nil)
				if err != nil {
					t.Fatal(err)
				}
				want := NewProject(repoRoot, env, prefix).Name
				// As plain compose loads it: no name given, no --env-file
				// (VERSION for the release file, which requires it).
				opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot, e.ComposeFile)},
					cli.WithWorkingDirectory(repoRoot), cli.WithEnv(append(environ, "VERSION=1.2.3", "DOMAIN=example.com")),
					cli.WithInterpolation(true))
				if err != nil {
					t.Fatal(err)
				}
				project, err := opts.LoadProject(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if project.Name != want {
					t.Errorf("plain compose names the project %q, the tool %q", project.Name, want)
				}
			})
		}
	}
}
