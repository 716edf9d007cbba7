package targets

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/images"
	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Check is the doctor: every probe runs, whatever the others found, and
// prints one line, ok or FAIL; it fails when something a target needs is
// missing.
func Check(ctx context.Context, o *session.Session) error {
	failed := 0
	line := func(mark, format string, args ...any) {
		fmt.Fprintf(o.Stdout, "%-4s  %s\n", mark, o.Mask(fmt.Sprintf(format, args...)))
	}
	report := func(err error, format string, args ...any) {
		if err != nil {
			failed++
			line("FAIL", "%s", err)
			return
		}
		line("ok", format, args...)
	}

	st := o.ProbeEngine(ctx)
	cause := func(err, otherwise error) error {
		switch {
		case err == nil:
			return nil
		case errors.Is(err, runner.ErrNotInstalled):
			return session.ErrDockerMissing
		default:
			return otherwise
		}
	}
	report(cause(st.ClientErr, fmt.Errorf("docker --version failed: %w", st.ClientErr)), "docker %s", st.Client)
	report(cause(st.ComposeErr, session.ErrComposeMissing), "docker compose %s", st.Compose)
	report(cause(st.ServerErr, o.EngineDown()), "engine %s answers at %s", st.Server, o.DockerHost())

	everyLoaded := true
	for _, e := range stack.Environments {
		env, err := stack.LoadEnv(o.Root, e, o.Environ)
		if err != nil {
			report(err, "")
			line("skip", "%s: not loaded until its env file loads", e.ComposeFile)
			everyLoaded = false
			continue
		}
		report(nil, "%s: env files %s", e.Name, strings.Join(env.Files, " + "))
		for _, w := range env.Warnings() {
			line("warn", "%s", w)
		}
		// Open says the warnings again: once is enough.
		s, err := o.Quiet().Open(e.Name)
		if err == nil {
			_, err = s.Load(ctx)
		}
		report(err, "%s: %s loads with them", e.Name, e.ComposeFile)
		everyLoaded = everyLoaded && err == nil
		if err == nil {
			site, serr := s.Site(ctx)
			report(serr, "%s: %s", e.Name, describeRoles(site))
		}
		if v, verr := env.Version(); e.Name == "release" && (err == nil || verr == nil) {
			// Said once: a bad VERSION already failed the line above.
			report(verr, "VERSION %s", v)
		}
	}
	if !everyLoaded {
		line("skip", "images: not listed until every compose file loads (the compose files declare them)")
	} else if all, err := images.Catalogue(ctx, o, nil); err != nil {
		report(err, "")
	} else {
		for _, img := range all {
			report(images.CheckDockerfile(o.Root, img), "image %s: %s stage %s (%s)", img.Name, img.Dockerfile(o.Root), images.StageName(img.Build.Target), img.Where())
		}
	}

	if _, ok := o.LookPath("certbot"); !ok {
		line("note", "certbot is not installed: prod:certbot and prod:renew need it (apt-get install certbot)")
	} else if out, err := o.Query(ctx, runner.Command{Name: "certbot", Args: []string{"--version"}}); err != nil {
		report(fmt.Errorf("certbot --version failed: %w", err), "")
	} else {
		report(nil, "%s", strings.TrimSpace(out))
	}
	if failed > 0 {
		return fmt.Errorf("check found %d problem(s)", failed)
	}
	return nil
}

// describeRoles says each service's role, grouped: "proxy nginx; routed
// backend, frontend; stateful redis".
func describeRoles(site roles.Site) string {
	var parts []string
	for _, r := range roles.Roles {
		if names := roles.Names(site.Of(r)); len(names) > 0 {
			parts = append(parts, string(r)+" "+strings.Join(names, ", "))
		}
	}
	if len(parts) == 0 {
		return "no service"
	}
	return "roles: " + strings.Join(parts, "; ")
}
