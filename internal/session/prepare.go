package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Prepare makes what the stack mounts exist before docker would create it
// owned by root, a self-signed certificate for nginx when there is none
// (the development certificate in debug and test, the temporary one in
// prod and release until certbot's exists), gives nginx its private keys
// (GiveKeys) and the services that write as a non-root user their folders,
// and writes the env override (see UseEnvOverride). It loads the compose
// model.
func (st *Stack) Prepare(ctx context.Context) error {
	model, err := st.Load(ctx)
	if err != nil {
		return err
	}
	owners, err := compose.Owners(model, st.Root)
	if err != nil {
		return fmt.Errorf("%s: %w", st.Env.Environment.ComposeFile, err)
	}
	dirs := append(slices.Clone(stack.ToolFolders), compose.WritableBinds(model, st.Root)...)
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
	if err := st.GiveKeys(ctx); err != nil {
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

// keyFolders are the folders of the private keys the proxy reads: the
// tool's self-signed pair and certbot's.
var keyFolders = []string{stack.SSLDir, stack.CertbotConfig}

// runsAsRoot tells whether the tool can chown files itself. A variable, so
// that a test run as root can also take the way of a user who is not.
var runsAsRoot = func() bool { return os.Geteuid() == 0 }

// GiveKeys makes every private key that a service reads as a numeric
// non-root user (nginx, 101:101, from nginx/data/ssl and certbot's folder)
// that user's with mode 0600, and lets that user enter the folders on the
// way (certbot makes live/ and archive/ 0700): nginx reads its keys without
// root, and nobody else can. A key's group is left as it is: mode 0600
// gives it nothing, and certbot gives a renewed key the group of the one
// before, which it can only do for a group of its own user. As root the
// tool does it itself; else through a one-off container of the service's
// image (the engine can; the user may not). A dry run says what it would
// change in the keys there are.
func (st *Stack) GiveKeys(ctx context.Context) error {
	readers, err := st.keyReaders(ctx)
	if err != nil {
		return err
	}
	for _, r := range readers {
		if err := st.giveKeys(ctx, r, r.UID, "the user "+r.Service+" runs as"); err != nil {
			return err
		}
	}
	return nil
}

// TakeCertbotKeys makes certbot's private keys the tool's user's again when
// the tool does not run as root: certbot, run as that user, reads the
// current key before it replaces it (and fails if it cannot). GiveKeys
// gives them back. As root there is nothing to do.
func (st *Stack) TakeCertbotKeys(ctx context.Context) error {
	if runsAsRoot() {
		return nil
	}
	readers, err := st.keyReaders(ctx)
	if err != nil {
		return err
	}
	for _, r := range readers {
		if r.Dir == stack.CertbotConfig {
			return st.giveKeys(ctx, r, os.Getuid(), "the tool's user, for certbot")
		}
	}
	return nil
}

// keyReaders are the services that read the key folders as a non-root user.
func (st *Stack) keyReaders(ctx context.Context) ([]compose.Owner, error) {
	model, err := st.Load(ctx)
	if err != nil {
		return nil, err
	}
	readers, err := compose.Readers(model, st.Root, keyFolders)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", st.Env.Environment.ComposeFile, err)
	}
	return readers, nil
}

// giveKeys makes the private keys in r.Dir uid's, mode 0600, and the
// folders on their way enterable by others (whose is said in the messages).
func (st *Stack) giveKeys(ctx context.Context, r compose.Owner, uid int, whose string) error {
	dir, err := filepath.EvalSymlinks(filepath.Join(st.Root, r.Dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	keys, folders, err := keyFiles(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Dir, err)
	}
	var chown, chmodKeys, chmodFolders []string // relative to dir
	for _, k := range keys {
		info, err := os.Stat(filepath.Join(dir, k))
		if err != nil {
			return err
		}
		if s, ok := info.Sys().(*syscall.Stat_t); ok && int(s.Uid) != uid {
			chown = append(chown, k)
		}
		if info.Mode().Perm() != 0o600 {
			chmodKeys = append(chmodKeys, k)
		}
	}
	for _, f := range folders {
		info, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o011 != 0o011 {
			chmodFolders = append(chmodFolders, f)
		}
	}
	if len(chown)+len(chmodKeys)+len(chmodFolders) == 0 {
		return nil
	}
	what := fmt.Sprintf("%s %d's, mode 0600", strings.Join(under(r.Dir, keys), ", "), uid)
	if len(chmodFolders) > 0 {
		what += ", and let it enter " + strings.Join(under(r.Dir, chmodFolders), ", ")
	}
	if st.DryRun {
		st.Say("[dry-run] make %s (%s)", what, whose)
		return nil
	}
	if runsAsRoot() {
		for _, f := range chmodFolders {
			info, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				return err
			}
			if err := os.Chmod(filepath.Join(dir, f), info.Mode().Perm()|0o011); err != nil {
				return err
			}
		}
		for _, k := range chown {
			if err := os.Chown(filepath.Join(dir, k), uid, -1); err != nil {
				return err
			}
		}
		for _, k := range chmodKeys {
			if err := os.Chmod(filepath.Join(dir, k), 0o600); err != nil {
				return err
			}
		}
	} else {
		for _, step := range []struct {
			program, arg string
			paths        []string
		}{
			{"chmod", "go+x", chmodFolders},
			{"chmod", "0600", chmodKeys},
			{"chown", strconv.Itoa(uid), chown},
		} {
			if len(step.paths) == 0 {
				continue
			}
			args := []string{"run", "--rm", "--network", "none", "--user", "0:0", "--entrypoint", step.program,
				"-v", dir + ":/keys", r.Image, step.arg}
			for _, p := range step.paths {
				args = append(args, "/keys/"+filepath.ToSlash(p))
			}
			if err := st.Run(ctx, Docker(args...)); err != nil {
				return err
			}
		}
	}
	st.Say("made %s (%s)", what, whose)
	return nil
}

// keyFiles lists the private keys in dir, relative to it: the tool's
// (certs.KeyFile) and certbot's live ones (live/NAME/privkey.pem, links into
// archive/, resolved); and the folders from dir down to each, which their
// reader must be able to enter. A link that leads out of dir is left alone:
// it is not the project's, and no container sees its target.
func keyFiles(dir string) (keys, folders []string, err error) {
	live, err := filepath.Glob(filepath.Join(dir, "live", "*", certs.KeyFile))
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, path := range append([]string{filepath.Join(dir, certs.KeyFile)}, live...) {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			continue // none there, or a broken link: nothing to give
		}
		rel, err := filepath.Rel(dir, real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		if !seen[rel] {
			seen[rel] = true
			keys = append(keys, rel)
		}
		link, _ := filepath.Rel(dir, path)
		for _, p := range []string{rel, link} {
			for d := filepath.Dir(p); ; d = filepath.Dir(d) {
				if !seen[d+"/"] {
					seen[d+"/"] = true
					folders = append(folders, d)
				}
				if d == "." {
					break
				}
			}
		}
	}
	return keys, folders, nil
}

// under names paths relative to folder dir of the project.
func under(dir string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.ToSlash(filepath.Join(dir, p))
	}
	return out
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
