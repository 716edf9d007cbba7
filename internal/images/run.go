package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/dockerfile"
	"github.com/kettleofketchup/dtx_website/internal/engineapi"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// The version and registry of the images come from the release environment:
// VERSION lives in docker/.env.release.
const imagesEnvironment = "release"

// Open opens the release environment (where VERSION lives) and plans the
// images the compose files build that only names (all when empty), tagged
// VERSION and latest.
func Open(ctx context.Context, o *session.Session, only string) (*session.Stack, Plan, error) {
	s, err := o.Open(imagesEnvironment)
	if err != nil {
		return nil, Plan{}, err
	}
	// VERSION first: its own message is clearer than the compose file's.
	if _, err := s.Env.Version(); err != nil {
		return nil, Plan{}, err
	}
	all, err := Catalogue(ctx, o, s.Env)
	if err != nil {
		return nil, Plan{}, err
	}
	imgs, err := Select(all, only)
	if err != nil {
		return nil, Plan{}, err
	}
	p, err := PlanFor(s, imgs, true)
	return s, p, err
}

// ForStack returns the images the compose files build that stack s's
// services use (matched by repository under its REGISTRY), their build
// sections read with s's values.
func ForStack(ctx context.Context, s *session.Stack) ([]Image, error) {
	model, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, svc := range model.Services {
		refs = append(refs, svc.Image)
	}
	all, err := Catalogue(ctx, s.Session, s.Env)
	if err != nil {
		return nil, err
	}
	return InRefs(all, s.Env.Registry(), refs), nil
}

// PlanFor plans imgs with the registry and CACHE_FROM of stack s, tagged
// VERSION and latest withVersion, else latest alone (a development build
// needs no version). The build arguments are the build sections' own, as
// compose-go resolved them from the env files and the process.
func PlanFor(s *session.Stack, imgs []Image, withVersion bool) (Plan, error) {
	p := Plan{Images: imgs, Registry: s.Env.Registry(), Bake: BuildxInstalled(s.Lookup)}
	if withVersion {
		v, err := s.Env.Version()
		if err != nil {
			return p, err
		}
		p.Version = v
	}
	switch v, _ := s.Env.Get("CACHE_FROM"); v {
	case "":
	case CacheFromValue:
		p.CacheFrom = true
	default:
		return p, fmt.Errorf("%s: use CACHE_FROM=%s to take the build cache from the registry's latest images, or leave it unset", s.Label("CACHE_FROM"), CacheFromValue)
	}
	return p, nil
}

// Build builds the plan's images in one compose build and prints a summary.
func Build(ctx context.Context, s *session.Stack, p Plan) error {
	for _, img := range p.Images {
		if err := CheckDockerfile(s.Root, img); err != nil {
			return fmt.Errorf("%w, or build other images with -only", err)
		}
	}
	cmd := p.BuildCommand(s.Root)
	if s.DryRun {
		s.Print(cmd)
		fmt.Fprintf(s.Stderr, "%s", indent(string(p.Definition(s.Root, s.Mask))))
		return nil
	}
	start := time.Now()
	if err := s.Run(ctx, cmd); err != nil {
		return err
	}
	total := time.Since(start)
	rows, err := inspectBuilt(ctx, s, p)
	if err != nil {
		return err
	}
	var summary strings.Builder // its tags may be a .local VERSION
	WriteSummary(&summary, rows, start, total)
	fmt.Fprint(s.Stdout, s.Mask(summary.String()))
	return nil
}

// inspectBuilt reads the size and creation time of each image just built:
// from the engine's API when it is a local socket (all at once: about 2 ms
// an image one after the other), else with one docker image inspect (a
// CLI process: about 35 ms).
func inspectBuilt(ctx context.Context, s *session.Stack, p Plan) ([]Built, error) {
	var refs []string
	for _, img := range p.Images {
		refs = append(refs, p.Refs(img)[0])
	}
	if socket, ok := engineapi.Socket(s.Lookup); ok {
		rows, err := inspectThroughAPI(ctx, socket, p, refs)
		var unreachable engineapi.Unreachable
		if !errors.As(err, &unreachable) {
			return rows, err
		}
	}
	out, err := s.Query(ctx, InspectCommand(refs...))
	if err != nil {
		return nil, fmt.Errorf("the images were not all built: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(p.Images) {
		return nil, fmt.Errorf("docker image inspect answered %d lines for %d images", len(lines), len(p.Images))
	}
	var rows []Built
	for i, img := range p.Images {
		size, created, err := ParseInspect(lines[i])
		if err != nil {
			return nil, err
		}
		rows = append(rows, Built{Image: img, Tags: p.Tags(), Size: size, Created: created})
	}
	return rows, nil
}

func inspectThroughAPI(ctx context.Context, socket string, p Plan, refs []string) ([]Built, error) {
	got, err := engineapi.InspectImages(ctx, socket, refs)
	var unreachable engineapi.Unreachable
	if errors.As(err, &unreachable) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("the images were not all built: %s", err)
	}
	var rows []Built
	for i, img := range p.Images {
		rows = append(rows, Built{Image: img, Tags: p.Tags(), Size: got[i].Size, Created: got[i].Created})
	}
	return rows, nil
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n    ") + "\n"
}

// Transfer runs a push's or a pull's commands in order, stopping at the
// first that fails.
func Transfer(ctx context.Context, s *session.Stack, cmds []runner.Command) error {
	for _, c := range cmds {
		if err := s.Run(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// CheckDockerfile makes sure img's Dockerfile is there and has the stage
// img builds (an inline Dockerfile is compose's to check).
func CheckDockerfile(root string, img Image) error {
	if img.Build.DockerfileInline != "" {
		return nil
	}
	path := img.Dockerfile(root)
	f, err := os.Open(filepath.Join(root, path))
	if filepath.IsAbs(path) {
		f, err = os.Open(path)
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: Dockerfile of image %s is missing (declared by %s): add it with a stage named %q", path, img.Name, img.Where(), StageName(img.Build.Target))
	}
	if err != nil {
		return err
	}
	defer f.Close()
	stages, err := dockerfile.Parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if t := img.Build.Target; t != "" && !dockerfile.Has(stages, t) {
		names := dockerfile.Names(stages)
		if len(names) == 0 {
			names = []string{"none"}
		}
		return fmt.Errorf("%s has no stage named %q for image %s (target of %s; its stages: %s): add one, FROM … AS %s", path, t, img.Name, img.Where(), strings.Join(names, ", "), t)
	}
	return nil
}

// StageName is the stage an image's target builds, as messages name it:
// an empty target builds the Dockerfile's last stage.
func StageName(target string) string {
	if target == "" {
		return "(last stage)"
	}
	return target
}
