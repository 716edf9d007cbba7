package targets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/deploy"
	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// releaseFile is the committed env file that holds VERSION.
func releaseFile() (string, error) {
	e, err := stack.LookupEnvironment(deployEnvironment)
	return e.EnvFile, err
}

// fileVersion reads VERSION as written in docker/.env.release.
func fileVersion(o *session.Session) (rel string, content []byte, version string, err error) {
	if rel, err = releaseFile(); err != nil {
		return
	}
	if content, err = os.ReadFile(filepath.Join(o.Root, rel)); err != nil {
		return rel, nil, "", fmt.Errorf("%s: %w: restore it from git (git checkout -- %s)", rel, err, rel)
	}
	v, ok := stack.FileVersion(content)
	if !ok {
		return rel, content, "", fmt.Errorf("%s sets no VERSION: ./dtx version:set 0.1.0 adds it", rel)
	}
	return rel, content, v, nil
}

// gitCommand is a git command in the project root.
func gitCommand(o *session.Session, args ...string) runner.Command {
	return runner.Command{Name: "git", Args: args, Dir: o.Root}
}

// tagExists asks git whether tag exists (a read-only query).
func tagExists(ctx context.Context, o *session.Session, tag string) (bool, error) {
	_, err := o.Query(ctx, gitCommand(o, "rev-parse", "--quiet", "--verify", "refs/tags/"+tag))
	if err == nil {
		return true, nil
	}
	var exit *runner.ExitError
	if errors.As(err, &exit) && exit.Code == 1 {
		return false, nil
	}
	return false, fmt.Errorf("git: %w: the project must be a git checkout", err)
}

// VersionShow prints VERSION as docker/.env.release has it, the one that
// wins when .local or the process sets another, and whether vVERSION is
// tagged.
func VersionShow(ctx context.Context, o *session.Session) error {
	rel, _, written, err := fileVersion(o)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("VERSION %s (%s)", written, rel)
	s, err := o.Open(deployEnvironment)
	if err != nil {
		return err
	}
	// The value every target uses (the process and .local win), judged by
	// the same rule as theirs: version:show agrees with dev:release.
	v, err := s.Env.Version()
	if err != nil {
		return err
	}
	if v != written {
		line += fmt.Sprintf("; %s wins: %s", s.Env.Source("VERSION"), s.Mask(v))
	}
	exists, err := tagExists(ctx, o, "v"+v)
	switch {
	case err != nil:
		line += "; git: " + err.Error()
	case exists:
		line += "; tagged v" + v
	default:
		line += "; not tagged yet (./dtx version:tag)"
	}
	fmt.Fprintln(o.Stdout, line)
	return nil
}

// VersionSet writes VERSION=version into docker/.env.release, keeping every
// other line.
func VersionSet(ctx context.Context, o *session.Session, version string) error {
	if err := deploy.CheckVersion(version); err != nil {
		return fmt.Errorf("version:set %w", err)
	}
	rel, content, old, err := fileVersion(o)
	if err != nil && content == nil {
		return err
	}
	return writeVersion(o, rel, content, old, version)
}

// VersionBump raises part (major, minor or patch) of docker/.env.release's
// VERSION.
func VersionBump(ctx context.Context, o *session.Session, part string) error {
	rel, content, old, err := fileVersion(o)
	if err != nil {
		return err
	}
	next, err := deploy.Bump(old, part)
	if err != nil {
		return fmt.Errorf("version:bump: VERSION in %s: %w", rel, err)
	}
	return writeVersion(o, rel, content, old, next)
}

func writeVersion(o *session.Session, rel string, content []byte, old, version string) error {
	return o.Act(fmt.Sprintf("set VERSION=%s in %s (was %s)", version, rel, orNone(old)), func() error {
		// A symlinked env file stays a link: the file it leads to is
		// edited, not replaced by a regular file.
		path, err := filepath.EvalSymlinks(filepath.Join(o.Root, rel))
		if err != nil {
			return err
		}
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		// Beside the file and renamed over it: never half a file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, stack.SetVersion(content, version), info.Mode().Perm()); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return err
		}
		o.Say("VERSION=%s in %s (was %s); commit it, then ./dtx version:tag", version, rel, orNone(old))
		return nil
	})
}

// VersionTag tags HEAD vVERSION (annotated) on a clean work tree, and pushes
// the tag to origin when push is set. It never commits and never moves a tag.
func VersionTag(ctx context.Context, o *session.Session, push bool) error {
	rel, _, version, err := fileVersion(o)
	if err != nil {
		return err
	}
	if err := deploy.CheckVersion(version); err != nil {
		return fmt.Errorf("VERSION in %s: %w", rel, err)
	}
	tag := "v" + version
	status, err := o.Query(ctx, gitCommand(o, "status", "--porcelain", "--untracked-files=no"))
	if err != nil {
		return fmt.Errorf("git status: %w: the project must be a git checkout", err)
	}
	if lines := splitLines(status); len(lines) > 0 {
		return fmt.Errorf("the work tree has %d uncommitted change(s) (%s…): commit them first; version:tag tags HEAD and commits nothing", len(lines), strings.TrimSpace(lines[0]))
	}
	if exists, err := tagExists(ctx, o, tag); err != nil {
		return err
	} else if exists {
		return fmt.Errorf("tag %s exists already: bump VERSION (./dtx version:bump patch), commit, then tag; a tag is never moved", tag)
	}
	if err := o.Run(ctx, gitCommand(o, "tag", "--annotate", tag, "--message", "dtx_website "+version)); err != nil {
		return err
	}
	if push {
		return o.Run(ctx, gitCommand(o, "push", "origin", "refs/tags/"+tag))
	}
	o.Say("tagged %s; git push origin %s (or version:tag -push) starts CI's release build", tag, tag)
	return nil
}
