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
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// The version and registry of the images come from the release environment:
// VERSION lives in docker/.env.release.
const imagesEnvironment = "release"

// Open opens the release environment (where VERSION lives) and plans the
// images named in only, tagged VERSION and latest.
func Open(o *session.Session, only string) (*session.Stack, Plan, error) {
	s, err := o.Open(imagesEnvironment)
	if err != nil {
		return nil, Plan{}, err
	}
	imgs, err := stack.SelectImages(only)
	if err != nil {
		return nil, Plan{}, err
	}
	if len(imgs) == 0 {
		return nil, Plan{}, fmt.Errorf("-only=%s names no image: use one or more of %s, separated by commas", session.Shown(only), strings.Join(stack.ImageNames(), ","))
	}
	p, err := PlanFor(s, imgs, true)
	return s, p, err
}

// PlanFor plans imgs with the registry, build arguments and CACHE_FROM of
// stack s, tagged VERSION and latest withVersion, else latest alone (a
// development build needs no version).
func PlanFor(s *session.Stack, imgs []stack.Image, withVersion bool) (Plan, error) {
	p := Plan{Images: imgs, Registry: s.Env.Registry(), BuildArgs: map[string]string{}, Bake: BuildxInstalled(s.Lookup)}
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
	for _, img := range imgs {
		for _, arg := range img.BuildArgs {
			if v, ok := s.Env.Get(arg); ok && v != "" {
				p.BuildArgs[arg] = v
			}
		}
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
		fmt.Fprintf(s.Stderr, "%s", indent(string(maskedPlan(s.Masker(), p).Definition())))
		return nil
	}
	start := time.Now()
	if err := s.Run(ctx, cmd); err != nil {
		return err
	}
	total := time.Since(start)
	var refs []string
	for _, img := range p.Images {
		refs = append(refs, p.Refs(img)[0])
	}
	out, err := s.Query(ctx, InspectCommand(refs...))
	if err != nil {
		return fmt.Errorf("the images were not all built: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(p.Images) {
		return fmt.Errorf("docker image inspect answered %d lines for %d images", len(lines), len(p.Images))
	}
	var rows []Built
	for i, img := range p.Images {
		size, created, err := ParseInspect(lines[i])
		if err != nil {
			return err
		}
		rows = append(rows, Built{Image: img, Tags: p.Tags(), Size: size, Created: created})
	}
	var summary strings.Builder // its tags may be a .local VERSION
	WriteSummary(&summary, rows, start, total)
	fmt.Fprint(s.Stdout, s.Mask(summary.String()))
	return nil
}

// maskedPlan is p with its values masked before they are encoded: the
// definition escapes $ and quotes, which would split a secret the mask
// then misses.
func maskedPlan(m *runner.Masker, p Plan) Plan {
	masked := p
	masked.Registry, masked.Version = m.Text(p.Registry), m.Text(p.Version)
	masked.BuildArgs = map[string]string{}
	for k, v := range p.BuildArgs {
		masked.BuildArgs[k] = m.Text(v)
	}
	return masked
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
// img builds.
func CheckDockerfile(root string, img stack.Image) error {
	path := img.DockerfilePath()
	f, err := os.Open(filepath.Join(root, path))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: Dockerfile of image %s is missing: add it with a stage named %q", path, img.Name, StageName(img.Target))
	}
	if err != nil {
		return err
	}
	defer f.Close()
	stages, err := dockerfile.Parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if img.Target != "" && !dockerfile.Has(stages, img.Target) {
		names := dockerfile.Names(stages)
		if len(names) == 0 {
			names = []string{"none"}
		}
		return fmt.Errorf("%s has no stage named %q for image %s (its stages: %s): add one, FROM … AS %s", path, img.Target, img.Name, strings.Join(names, ", "), img.Target)
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
