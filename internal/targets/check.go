package targets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Engine errors, each with what to do.
var (
	ErrDockerMissing  = errors.New("docker is not installed: install Docker Engine and make sure the docker CLI is on PATH")
	ErrComposeMissing = errors.New("the docker compose plugin is missing: install docker-compose-plugin (Compose v2), so that 'docker compose version' works")
	ErrEngineDown     = errors.New("the Docker engine is unreachable")
)

var probeTimeout = 10 * time.Second

func probe(ctx context.Context, r *runner.Runner, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	out, err := r.Query(ctx, runner.Command{Name: "docker", Args: args})
	return strings.TrimSpace(out), err
}

type engineVersions struct{ client, compose, server string }

// engineInfo asks for the versions of docker, its compose plugin and the
// engine: two probes, run at once, since every compose target pays for them.
func engineInfo(ctx context.Context, r *runner.Runner) (engineVersions, error) {
	var v engineVersions
	if _, err := exec.LookPath("docker"); err != nil {
		return v, ErrDockerMissing
	}
	var composeErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		v.compose, composeErr = probe(ctx, r, "compose", "version", "--short")
	}()
	// docker prints the client's version even when the engine is unreachable.
	out, serverErr := probe(ctx, r, "version", "--format", "{{.Client.Version}} {{.Server.Version}}")
	<-done
	v.client, v.server, _ = strings.Cut(out, " ")
	v.server = strings.TrimSpace(v.server)
	if composeErr != nil {
		return v, ErrComposeMissing
	}
	if serverErr != nil || v.server == "" {
		host := os.Getenv("DOCKER_HOST")
		if host == "" {
			host = "unix:///var/run/docker.sock"
		}
		return v, fmt.Errorf("%w at %s: start it (sudo systemctl start docker) or point DOCKER_HOST at a running one (%v)", ErrEngineDown, host, serverErr)
	}
	return v, nil
}

// EngineReady checks that docker, the compose plugin and the engine answer.
func EngineReady(ctx context.Context, r *runner.Runner) error {
	_, err := engineInfo(ctx, r)
	return err
}

// Check is the doctor: it reports every problem it finds, one line each, and
// fails when something a target needs is missing.
func Check(ctx context.Context, o Options) error {
	if o.mask == nil {
		o.mask = runner.NewMasker() // shared by the environments it opens
	}
	failed := 0
	report := func(ok bool, format string, args ...any) {
		mark := "ok  "
		if !ok {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(o.Stdout, "%s  %s\n", mark, o.mask.Text(fmt.Sprintf(format, args...)))
	}
	for _, e := range stack.Environments {
		s, err := o.open(e.Name)
		if err != nil {
			report(false, "%s", err)
			continue
		}
		if _, err := s.validate(ctx); err != nil {
			report(false, "%s", err)
			continue
		}
		report(true, "%s: %s with %s", e.Name, e.ComposeFile, strings.Join(s.env.Files, " + "))
		if e.Name == "release" {
			if v, err := s.env.Version(); err != nil {
				report(false, "%s", err)
			} else {
				report(true, "VERSION %s", v)
			}
		}
	}
	for _, img := range stack.Images {
		if _, err := os.Stat(filepath.Join(o.Root, img.DockerfilePath())); err != nil {
			report(false, "%s: Dockerfile of image %s is missing: add it with a stage named %q", img.DockerfilePath(), img.Name, orLast(img.Target))
		} else {
			report(true, "image %s: %s target %s", img.Name, img.DockerfilePath(), orLast(img.Target))
		}
	}
	r := runner.New(true, nil)
	v, err := engineInfo(ctx, r)
	if v.client != "" {
		report(true, "docker %s", v.client)
	}
	if v.compose != "" {
		report(true, "docker compose %s", v.compose)
	}
	if err != nil {
		report(false, "%s", err)
	} else {
		report(true, "engine %s answers", v.server)
	}
	if out, err := r.Query(ctx, runner.Command{Name: "certbot", Args: []string{"--version"}}); err != nil {
		fmt.Fprintf(o.Stdout, "note  certbot is not installed: prod:certbot and prod:renew need it (apt-get install certbot)\n")
	} else {
		report(true, "%s", strings.TrimSpace(out))
	}
	if failed > 0 {
		return fmt.Errorf("check found %d problem(s)", failed)
	}
	return nil
}

func orLast(target string) string {
	if target == "" {
		return "(last stage)"
	}
	return target
}
