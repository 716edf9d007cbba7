package targets

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/images"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// The version and registry of the images come from the release environment:
// VERSION lives in docker/.env.release.
const imagesEnvironment = "release"

// imagePlan opens the release environment (where VERSION lives) and plans
// the images named in only, tagged VERSION and latest.
func imagePlan(o *session.Session, only string) (*session.Stack, images.Plan, error) {
	s, err := o.Open(imagesEnvironment)
	if err != nil {
		return nil, images.Plan{}, err
	}
	imgs, err := stack.SelectImages(only)
	if err != nil {
		return nil, images.Plan{}, err
	}
	if len(imgs) == 0 {
		return nil, images.Plan{}, fmt.Errorf("-only=%s names no image: use one or more of %s, separated by commas", session.Shown(only), strings.Join(stack.ImageNames(), ","))
	}
	p, err := planFor(s, imgs, true)
	return s, p, err
}

func planFor(s *session.Stack, imgs []stack.Image, withVersion bool) (images.Plan, error) {
	p := images.Plan{Images: imgs, Registry: s.Env.Registry(), BuildArgs: map[string]string{}, Bake: images.BuildxInstalled(s.Lookup)}
	if withVersion {
		v, err := s.Env.Version()
		if err != nil {
			return p, err
		}
		p.Version = v
	}
	switch v, _ := s.Env.Get("CACHE_FROM"); v {
	case "":
	case images.CacheFromValue:
		p.CacheFrom = true
	default:
		return p, fmt.Errorf("%s: use CACHE_FROM=%s to take the build cache from the registry's latest images, or leave it unset", s.Label("CACHE_FROM"), images.CacheFromValue)
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

// buildImages builds the plan's images in one compose build and prints a summary.
func buildImages(ctx context.Context, s *session.Stack, p images.Plan) error {
	for _, img := range p.Images {
		if err := checkDockerfile(s.Root, img); err != nil {
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
	out, err := s.Query(ctx, images.InspectCommand(refs...))
	if err != nil {
		return fmt.Errorf("the images were not all built: %w", err)
	}
	lines := splitLines(out)
	if len(lines) != len(p.Images) {
		return fmt.Errorf("docker image inspect answered %d lines for %d images", len(lines), len(p.Images))
	}
	var rows []images.Built
	for i, img := range p.Images {
		size, created, err := images.ParseInspect(lines[i])
		if err != nil {
			return err
		}
		rows = append(rows, images.Built{Image: img, Tags: p.Tags(), Size: size, Created: created})
	}
	var summary strings.Builder // its tags may be a .local VERSION
	images.WriteSummary(&summary, rows, start, total)
	fmt.Fprint(s.Stdout, s.Mask(summary.String()))
	return nil
}

// maskedPlan is p with its values masked before they are encoded: the
// definition escapes $ and quotes, which would split a secret the mask
// then misses.
func maskedPlan(m *runner.Masker, p images.Plan) images.Plan {
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

// Build builds the images named in only (all when empty), tagged VERSION
// and latest.
func Build(ctx context.Context, o *session.Session, only string) error {
	s, p, err := imagePlan(o, only)
	if err != nil {
		return err
	}
	return buildImages(ctx, s, p)
}

// Push pushes both tags of the images named in only.
func Push(ctx context.Context, o *session.Session, only string) error {
	return transfer(ctx, o, only, images.Plan.PushCommands)
}

// Pull pulls both tags of the images named in only.
func Pull(ctx context.Context, o *session.Session, only string) error {
	return transfer(ctx, o, only, images.Plan.PullCommands)
}

func transfer(ctx context.Context, o *session.Session, only string, commands func(images.Plan) []runner.Command) error {
	s, p, err := imagePlan(o, only)
	if err != nil {
		return err
	}
	for _, c := range commands(p) {
		if err := s.Run(ctx, c); err != nil {
			return err
		}
	}
	return nil
}
