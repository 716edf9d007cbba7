package targets

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// dependencyFiles are the files, at the root of a build context, whose
// change the mounted source cannot carry: the installed packages and the
// image itself come from the build. Hot reload serves every other edit.
var dependencyFiles = []string{
	"Dockerfile",
	"package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
	"requirements.txt", "requirements-dev.txt", "pyproject.toml", "poetry.lock", "Pipfile", "Pipfile.lock", "uv.lock",
	"go.mod", "go.sum", "Gemfile", "Gemfile.lock",
}

// watchEvery is how often the debug stack's dependency files are looked at.
var watchEvery = time.Second

// stamp is what tells a file changed: its modification time and size,
// or absence.
type stamp struct {
	mod  time.Time
	size int64
}

// dependencyStamps reads the stamps of the dependency files in each build
// context of the stack's compose file, keyed by path relative to the root.
func dependencyStamps(root string, contexts []string) map[string]stamp {
	out := map[string]stamp{}
	for _, dir := range contexts {
		for _, name := range dependencyFiles {
			path := filepath.Join(dir, name)
			rel, err := filepath.Rel(root, path)
			if err != nil {
				rel = path
			}
			if fi, err := os.Stat(path); err == nil {
				out[rel] = stamp{fi.ModTime(), fi.Size()}
			}
		}
	}
	return out
}

// changedFiles lists the paths whose stamp differs between two readings
// (changed, added or removed), sorted.
func changedFiles(before, after map[string]stamp) []string {
	var changed []string
	for p, st := range after {
		if before[p] != st {
			changed = append(changed, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			changed = append(changed, p)
		}
	}
	sort.Strings(changed)
	return changed
}

// watchDependencies tells the developer, while the attached stack runs,
// when a dependency file of an image the stack's compose file builds
// changed, and what to run; it returns the function that stops watching.
func watchDependencies(ctx context.Context, s *session.Stack) (stop func()) {
	model, err := s.Load(ctx)
	if err != nil || s.DryRun {
		return func() {}
	}
	var contexts []string
	for _, svc := range model.Services {
		if svc.Build != nil && svc.Build.Context != "" {
			contexts = append(contexts, svc.Build.Context)
		}
	}
	if len(contexts) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	before := dependencyStamps(s.Root, contexts)
	clock := s.Clock
	if clock == nil {
		clock = session.RealClock
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-clock.After(watchEvery):
			}
			after := dependencyStamps(s.Root, contexts)
			for _, path := range changedFiles(before, after) {
				s.Say("%s changed: the image is built from it, so hot reload cannot serve it; Ctrl-C, then ./dtx dev:%s rebuilds the images and starts the stack again", path, s.Name())
			}
			before = after
		}
	}()
	return cancel
}
