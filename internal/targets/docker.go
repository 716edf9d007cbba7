package targets

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/images"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// The version and registry of the images come from the release environment:
// VERSION lives in docker/.env.release.
const imagesEnvironment = "release"

// imagePlan opens the release environment (where VERSION lives) and plans
// the images named in only, tagged VERSION and latest.
func (o Options) imagePlan(only string) (*session, images.Plan, error) {
	s, err := o.open(imagesEnvironment)
	if err != nil {
		return nil, images.Plan{}, err
	}
	imgs, err := stack.SelectImages(only)
	if err != nil {
		return nil, images.Plan{}, err
	}
	if len(imgs) == 0 {
		return nil, images.Plan{}, fmt.Errorf("-only=%s names no image: use one or more of %s, separated by commas", shown(only), strings.Join(stack.ImageNames(), ","))
	}
	p, err := s.planFor(imgs, true)
	return s, p, err
}

func (s *session) planFor(imgs []stack.Image, withVersion bool) (images.Plan, error) {
	p := images.Plan{Images: imgs, Registry: s.env.Registry(), BuildArgs: map[string]string{}, Bake: images.BuildxInstalled(s.Lookup)}
	if withVersion {
		v, err := s.env.Version()
		if err != nil {
			return p, err
		}
		p.Version = v
	}
	switch v, _ := s.env.Get("CACHE_FROM"); v {
	case "":
	case images.CacheFromValue:
		p.CacheFrom = true
	default:
		return p, fmt.Errorf("%s: use CACHE_FROM=%s to take the build cache from the registry's latest images, or leave it unset", s.label("CACHE_FROM"), images.CacheFromValue)
	}
	for _, img := range imgs {
		for _, arg := range img.BuildArgs {
			if v, ok := s.env.Get(arg); ok && v != "" {
				p.BuildArgs[arg] = v
			}
		}
	}
	return p, nil
}

// build builds the plan's images in one compose build and prints a summary.
func (s *session) build(ctx context.Context, p images.Plan) error {
	for _, img := range p.Images {
		if err := checkDockerfile(s.Root, img); err != nil {
			return fmt.Errorf("%w, or build other images with -only", err)
		}
	}
	cmd := p.BuildCommand(s.Root)
	if s.DryRun {
		s.run.Print(cmd)
		fmt.Fprintf(s.Stderr, "%s", indent(string(s.maskedPlan(p).Definition())))
		return nil
	}
	start := time.Now()
	if err := s.docker(ctx, cmd); err != nil {
		return err
	}
	total := time.Since(start)
	var refs []string
	for _, img := range p.Images {
		refs = append(refs, p.Refs(img)[0])
	}
	out, err := s.run.Query(ctx, images.InspectCommand(refs...))
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
	fmt.Fprint(s.Stdout, s.mask.Text(summary.String()))
	return nil
}

// maskedPlan is p with its values masked before they are encoded: the
// definition escapes $ and quotes, which would split a secret the mask
// then misses.
func (s *session) maskedPlan(p images.Plan) images.Plan {
	m := s.run.Masker()
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
func Build(ctx context.Context, o Options, only string) error {
	s, p, err := o.imagePlan(only)
	if err != nil {
		return err
	}
	return s.build(ctx, p)
}

// Push pushes both tags of the images named in only.
func Push(ctx context.Context, o Options, only string) error {
	return transfer(ctx, o, only, images.Plan.PushCommands)
}

// Pull pulls both tags of the images named in only.
func Pull(ctx context.Context, o Options, only string) error {
	return transfer(ctx, o, only, images.Plan.PullCommands)
}

func transfer(ctx context.Context, o Options, only string, commands func(images.Plan) []runner.Command) error {
	s, p, err := o.imagePlan(only)
	if err != nil {
		return err
	}
	for _, c := range commands(p) {
		if err := s.docker(ctx, c); err != nil {
			return err
		}
	}
	return nil
}
