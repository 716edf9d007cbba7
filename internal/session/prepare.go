package session

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Prepare makes what the stack mounts exist before docker would create it
// owned by root, a self-signed certificate for nginx when there is none
// (the development certificate in debug and test, the temporary one in
// prod and release until certbot's exists), gives the services that write
// as a non-root user their folders, and writes the env override (see
// UseEnvOverride). It loads the compose model.
func (st *Stack) Prepare(ctx context.Context) error {
	model, err := st.Load(ctx)
	if err != nil {
		return err
	}
	owners, err := compose.Owners(model, st.Root)
	if err != nil {
		return fmt.Errorf("%s: %w", st.Env.Environment.ComposeFile, err)
	}
	dirs := stack.DataFolders
	if err := refuseLinks(st.Root, dirs); err != nil {
		return err
	}
	err = st.Act("mkdir -p "+strings.Join(dirs, " "), func() error {
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(st.Root, d), 0o755); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	names := CertNames(st.Env.Value("DOMAIN"))
	err = st.Act(fmt.Sprintf("generate a self-signed certificate for %s in %s/ if none is valid there", strings.Join(names, ", "), stack.SSLDir), func() error {
		wrote, err := certs.EnsureSelfSigned(filepath.Join(st.Root, stack.SSLDir), names, st.Now())
		if err != nil {
			return fmt.Errorf("%s: %w", stack.SSLDir, err)
		}
		if wrote {
			st.Say("generated a self-signed certificate for %s in %s/ (key mode 0600)", strings.Join(names, ", "), stack.SSLDir)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range owners {
		if st.DryRun {
			st.Say("[dry-run] chown -R %s (the user %s runs as) where it is not theirs", o, o.Service)
			continue
		}
		if err := st.giveFolder(ctx, o); err != nil {
			return err
		}
	}
	return st.UseEnvOverride(ctx)
}

// refuseLinks refuses a data folder, or a folder on its way, that is a
// symbolic link: the tool gives data folders to the services' users
// (chown -R) and backs them up, and must never follow a link out of the
// project to do it.
func refuseLinks(root string, dirs []string) error {
	for _, d := range dirs {
		for p := d; p != "." && p != "/"; p = filepath.Dir(p) {
			fi, err := os.Lstat(filepath.Join(root, p))
			if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return fmt.Errorf("%s is a symbolic link: the tool gives the stack's data folders to their services' users and does not follow links out of the project; make it a real folder (move what it leads to in its place)", p)
			}
		}
	}
	return nil
}

// giveFolder makes o.Dir and what is in it belong to the user its service
// runs as (redis's data may have been written as root by the debug stack):
// directly when the tool runs as root, else through a one-off container of
// the service's image, since the engine can and the user may not.
func (st *Stack) giveFolder(ctx context.Context, o compose.Owner) error {
	dir := filepath.Join(st.Root, o.Dir)
	var wrong []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if s, ok := info.Sys().(*syscall.Stat_t); ok && (int(s.Uid) != o.UID || int(s.Gid) != o.GID) {
			wrong = append(wrong, path)
		}
		return nil
	})
	if err != nil || len(wrong) == 0 {
		return err
	}
	if os.Geteuid() == 0 {
		for _, path := range wrong {
			if err := os.Lchown(path, o.UID, o.GID); err != nil {
				return err
			}
		}
		st.Say("made %s %d:%d's, the user %s runs as", o.Dir, o.UID, o.GID, o.Service)
		return nil
	}
	return st.Run(ctx, Docker("run", "--rm", "--network", "none", "--user", "0:0", "--entrypoint", "chown",
		"-v", dir+":/data", o.Image, "-R", fmt.Sprintf("%d:%d", o.UID, o.GID), "/data"))
}

// UseEnvOverride writes the env override (names only) that makes the
// process environment win inside the containers too, and passes it to
// compose from then on; a dry run prints what it would write.
func (st *Stack) UseEnvOverride(ctx context.Context) error {
	o, err := st.Project.EnvOverride(ctx, st.Environ)
	if err != nil {
		return err
	}
	if len(o.Services) == 0 {
		return nil
	}
	if err := st.Act(fmt.Sprintf("write %s: %s", o.Path, o.Summary()), func() error { return o.Write(st.Root) }); err != nil {
		return err
	}
	st.Project.Override = o.Path
	return nil
}

// CertNames are the names the self-signed certificate covers: DOMAIN and
// www.DOMAIN when set, and localhost and 127.0.0.1 always.
func CertNames(domain string) []string {
	names := []string{"localhost", "127.0.0.1"}
	if domain != "" && domain != "localhost" {
		names = append([]string{domain, "www." + domain}, names...)
	}
	return names
}

// SiteURL is where a browser on this machine reaches the stack's nginx:
// localhost (the self-signed certificate covers it whatever DOMAIN is) on
// the published HTTPS port.
func (st *Stack) SiteURL() string {
	port := st.Env.Value("HTTPS_PORT")
	if port == "" || port == "443" {
		return "https://localhost/"
	}
	return "https://localhost:" + port + "/"
}
