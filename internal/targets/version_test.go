package targets

import (
	"context"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitProject is a project in a git repository with one commit.
func gitProject(t *testing.T) string {
	t.Helper()
	root := project(t)
	for _, args := range [][]string{
		{"init", "-q"}, {"config", "user.email", "t@example.com"}, {"config", "user.name", "t"},
		{"add", "-A"}, {"commit", "-q", "-m", "start"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", root}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return root
}

func git(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", root}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestVersionSetAndBumpEditTheReleaseFile(t *testing.T) {
	root := project(t)
	path := filepath.Join(root, "docker/.env.release")
	before, _ := os.ReadFile(path)
	o, _, _ := options(root, false)
	if err := VersionBump(context.Background(), o, "minor"); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if want := strings.Replace(string(before), "VERSION=0.1.0\n", "VERSION=0.2.0\n", 1); string(after) != want {
		t.Fatalf("after bump minor:\n%s\nwant:\n%s", after, want)
	}
	if err := VersionSet(context.Background(), o, "1.0.0-rc.1"); err != nil {
		t.Fatal(err)
	}
	after, _ = os.ReadFile(path)
	if !strings.Contains(string(after), "\nVERSION=1.0.0-rc.1\n") || strings.Count(string(after), "#") != strings.Count(string(before), "#") {
		t.Fatalf("after set:\n%s", after)
	}
	// A dry run prints the change and writes nothing.
	o, _, log := options(root, true)
	if err := VersionBump(context.Background(), o, "major"); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(after) || !strings.Contains(log.String(), "[dry-run] set VERSION=2.0.0 in docker/.env.release (was 1.0.0-rc.1)") {
		t.Fatalf("dry run: %s\n%s", log, again)
	}
}

func TestVersionBadInputChangesNothing(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(context.Context, *session.Session) error
		want string
	}{
		{"set a non-version", func(c context.Context, o *session.Session) error { return VersionSet(c, o, "1.2") }, `"1.2" is not a semantic version`},
		{"set with a v", func(c context.Context, o *session.Session) error { return VersionSet(c, o, "v1.2.3") }, "drop the leading v (1.2.3)"},
		{"set build metadata", func(c context.Context, o *session.Session) error { return VersionSet(c, o, "1.2.3+5") }, "has build metadata (+5)"},
		{"bump an unknown part", func(c context.Context, o *session.Session) error { return VersionBump(c, o, "micro") }, `"micro" is not a part of a version`},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := project(t)
			before := tree(t, root)
			data, _ := os.ReadFile(filepath.Join(root, "docker/.env.release"))
			o, _, _ := options(root, false)
			err := c.run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line with %q", err, c.want)
			}
			after, _ := os.ReadFile(filepath.Join(root, "docker/.env.release"))
			if string(after) != string(data) || strings.Join(tree(t, root), ",") != strings.Join(before, ",") {
				t.Fatal("bad input changed files")
			}
		})
	}
}

func TestVersionTag(t *testing.T) {
	root := gitProject(t)
	o, _, _ := options(root, false)
	head := git(t, root, "rev-parse", "HEAD")

	// A dirty tree is refused.
	os.WriteFile(filepath.Join(root, "docker/.env.release"), []byte("VERSION=0.1.0\nDOMAIN=x.example\n"), 0o644)
	if err := VersionTag(context.Background(), o, false); err == nil || !strings.Contains(err.Error(), "uncommitted change") {
		t.Fatalf("dirty tree: %v", err)
	}
	git(t, root, "checkout", "--", ".")

	if err := VersionTag(context.Background(), o, false); err != nil {
		t.Fatal(err)
	}
	if got := git(t, root, "cat-file", "-t", "v0.1.0"); got != "tag" {
		t.Errorf("v0.1.0 is a %s, want an annotated tag", got)
	}
	if got := git(t, root, "rev-parse", "v0.1.0^{commit}"); got != head {
		t.Errorf("v0.1.0 tags %s, want HEAD %s", got, head)
	}
	// Again: the tag exists, and is never moved.
	if err := VersionTag(context.Background(), o, false); err == nil || !strings.Contains(err.Error(), "tag v0.1.0 exists already") {
		t.Fatalf("second tag: %v", err)
	}
	if got := git(t, root, "rev-parse", "HEAD"); got != head {
		t.Error("version:tag committed")
	}
	// The version shown says it is tagged.
	o, out, _ := options(root, false)
	if err := VersionShow(context.Background(), o); err != nil || !strings.Contains(out.String(), "VERSION 0.1.0 (docker/.env.release); tagged v0.1.0") {
		t.Fatalf("version:show: %v %q", err, out)
	}
}

// VERSION has one rule: version:show, version:set, dev:release, docker:build
// and prod:deploy judge the same value the same way, a leading v included.
func TestOneVersionRule(t *testing.T) {
	for _, c := range []struct{ version, want string }{
		{"1.2", "is not a semantic version"},
		{"v1.2.3", "drop the leading v (1.2.3)"},
		{"1.2.3+7", "has build metadata (+7)"},
	} {
		t.Run(c.version, func(t *testing.T) {
			targets := map[string]func(context.Context, *session.Session) error{
				"version:show": VersionShow,
				"version:set":  func(ctx context.Context, o *session.Session) error { return VersionSet(ctx, o, c.version) },
				"dev:release":  func(ctx context.Context, o *session.Session) error { return Up(ctx, o, "release", Pulled, false) },
				"docker:build": func(ctx context.Context, o *session.Session) error { return Build(ctx, o, "") },
				"prod:deploy":  func(ctx context.Context, o *session.Session) error { return Deploy(ctx, o, "", 0) },
			}
			for name, run := range targets {
				root := project(t)
				environ := []string{"VERSION=" + c.version}
				if name == "version:set" {
					environ = nil
				}
				o, _, _ := options(root, true, environ...)
				err := run(context.Background(), o)
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s with VERSION=%s: %v, want %q", name, c.version, err, c.want)
				}
			}
		})
	}
}

// version:set edits the file a symlinked docker/.env.release leads to and
// leaves the link a link.
func TestVersionSetKeepsASymlink(t *testing.T) {
	root := project(t)
	real := filepath.Join(t.TempDir(), "env.release")
	data, _ := os.ReadFile(filepath.Join(root, "docker/.env.release"))
	os.WriteFile(real, data, 0o640)
	link := filepath.Join(root, "docker/.env.release")
	os.Remove(link)
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	o, _, _ := options(root, false)
	if err := VersionSet(context.Background(), o, "3.2.1"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("docker/.env.release is no longer a link: %v %v", fi.Mode(), err)
	}
	got, _ := os.ReadFile(real)
	if !strings.Contains(string(got), "VERSION=3.2.1\n") {
		t.Fatalf("the linked file was not edited:\n%s", got)
	}
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", fi.Mode().Perm())
	}
}
