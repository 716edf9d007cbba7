package backup

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// BACKUP_TO gets a copy of each backup: a folder of this machine (another
// disk), or ssh://[USER@]HOST[:PORT]/FOLDER, through the ssh client, which
// is how the docker CLI reaches a remote engine too. Over ssh the tool
// sends a tar it writes itself to `tar -x` on the other side, each ssh
// command given as words (the values were checked to hold no character a
// shell reads: see ParseDestination). A copy lands in a hidden folder
// there and is renamed once whole, as a backup here is.

// sshCommand is ssh to d running words on the other side. BatchMode: a
// cron job has nobody to type a password. BACKUP_SSH_CONFIG names an ssh
// configuration file (its key, known hosts, port) when the user's own is
// not the one to use.
func sshCommand(st *session.Stack, d Destination, words ...string) runner.Command {
	args := []string{"-o", "BatchMode=yes"}
	if cfg, _ := st.Env.Get("BACKUP_SSH_CONFIG"); cfg != "" {
		args = append(args, "-F", cfg)
	}
	if d.Port != "" {
		args = append(args, "-p", d.Port)
	}
	host := d.Host
	if d.User != "" {
		host = d.User + "@" + host
	}
	args = append(append(args, "--", host), words...)
	return runner.Command{Name: "ssh", Args: args}
}

// copyOut copies backup name from the local folder dir to d.
func copyOut(ctx context.Context, st *session.Stack, d Destination, dir, name string) error {
	src := filepath.Join(dir, name)
	if d.Host == "" {
		dst := filepath.Join(d.Folder, name)
		if _, err := os.Lstat(dst); err == nil {
			st.Say("%s is in BACKUP_TO=%s already", name, d)
			return nil
		}
		if err := os.MkdirAll(d.Folder, 0o700); err != nil {
			return err
		}
		stage := filepath.Join(d.Folder, partialPrefix+name)
		if err := os.RemoveAll(stage); err != nil {
			return err
		}
		if err := copyBackup(src, stage); err != nil {
			os.RemoveAll(stage)
			return err
		}
		if err := os.Rename(stage, dst); err != nil {
			return err
		}
		syncDir(d.Folder)
		st.Say("copied %s to BACKUP_TO=%s", name, d)
		return nil
	}
	remote := d.Folder + "/" + name
	if err := st.Run(ctx, sshCommand(st, d, "test", "!", "-e", remote)); err != nil {
		var exit *runner.ExitError
		if errors.As(err, &exit) && exit.Code == 1 {
			st.Say("%s is in BACKUP_TO=%s already", name, d)
			return nil
		}
		return err
	}
	if err := st.Run(ctx, sshCommand(st, d, "mkdir", "-p", "-m", "700", d.Folder)); err != nil {
		return err
	}
	stage := partialPrefix + name
	if err := st.Run(ctx, sshCommand(st, d, "rm", "-rf", d.Folder+"/"+stage)); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarBackup(pw, src, stage)) }()
	c := sshCommand(st, d, "tar", "-x", "-f", "-", "-C", d.Folder)
	c.Stdin, c.StdinNote = pr, "a tar of "+Dir+"/"+name
	err := st.Run(ctx, c)
	pr.CloseWithError(errors.New("ssh ended"))
	if err != nil {
		return err
	}
	if err := st.Run(ctx, sshCommand(st, d, "mv", d.Folder+"/"+stage, remote)); err != nil {
		return err
	}
	st.Say("copied %s to BACKUP_TO=%s", name, d)
	return nil
}

// fetch brings backup name from d into the local folder dir, whole or not
// at all, and checks it.
func fetch(ctx context.Context, st *session.Stack, d Destination, dir, name string) error {
	stage := filepath.Join(dir, partialPrefix+"fetch-"+name)
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if d.Host == "" {
		src := filepath.Join(d.Folder, name)
		if fi, err := os.Lstat(src); err != nil || !fi.IsDir() {
			return fmt.Errorf("backup %s is neither in %s nor in BACKUP_TO=%s: ./dtx prod:backups lists them", name, Dir, d)
		}
		if err := copyBackup(src, filepath.Join(stage, name)); err != nil {
			return err
		}
	} else {
		if err := os.Mkdir(stage, 0o700); err != nil {
			return err
		}
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := extractBackupTar(pr, stage, name)
			if err == nil {
				// tar pads its archive to a whole record after the end.
				_, _ = io.Copy(io.Discard, pr)
			}
			pr.CloseWithError(err)
			done <- err
		}()
		c := sshCommand(st, d, "tar", "-c", "-f", "-", "-C", d.Folder, name)
		c.Stdout, c.StdoutNote = pw, Dir+"/"+filepath.Base(stage)
		err := st.Run(ctx, c)
		pw.Close()
		if xerr := <-done; err == nil {
			err = xerr
		}
		if err != nil {
			return fmt.Errorf("backup %s could not be fetched from BACKUP_TO=%s: %w", name, d, err)
		}
	}
	if err := os.Rename(filepath.Join(stage, name), filepath.Join(dir, name)); err != nil {
		return err
	}
	syncDir(dir)
	st.Say("fetched %s from BACKUP_TO=%s", name, d)
	return nil
}

// copyBackup copies a backup's folder (its regular files, none else) to
// the new folder dst: mode 0700, files 0600, synced.
func copyBackup(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s holds %s, which is not a regular file: a backup holds only its parts and manifest", src, e.Name())
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), 0o600); err != nil {
			return err
		}
	}
	syncDir(dst)
	return nil
}

// tarBackup writes a backup's folder src as a tar whose entries are under
// prefix/: the folder mode 0700, its files 0600.
func tarBackup(w io.Writer, src, prefix string) error {
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: prefix + "/", Mode: 0o700}); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s holds %s, which is not a regular file", src, e.Name())
		}
		f, err := openNoFollow(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		fi, _ := f.Stat()
		err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: prefix + "/" + e.Name(), Mode: 0o600, Size: fi.Size(), ModTime: fi.ModTime()})
		if err == nil {
			_, err = io.CopyN(tw, f, fi.Size())
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// extractBackupTar extracts a backup's tar (entries under name/, regular
// files only) into dest.
func extractBackupTar(r io.Reader, dest, name string) error {
	tr := tar.NewReader(r)
	if err := os.Mkdir(filepath.Join(dest, name), 0o700); err != nil {
		return err
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a whole tar: %w", err)
		}
		entry := strings.TrimSuffix(hdr.Name, "/")
		if entry == name && hdr.Typeflag == tar.TypeDir {
			continue
		}
		file, ok := strings.CutPrefix(entry, name+"/")
		if !ok || hdr.Typeflag != tar.TypeReg || file == "" || strings.Contains(file, "/") || !filepath.IsLocal(file) {
			return fmt.Errorf("the backup's tar holds %q, which is not a file of backup %s", clip(hdr.Name), name)
		}
		err = writeNew(filepath.Join(dest, name, file), func(w io.Writer) error {
			_, err := io.Copy(w, tr)
			return err
		})
		if err != nil {
			return err
		}
	}
}

// remoteNames lists the backups in d (for prod:backups), newest last.
func remoteNames(ctx context.Context, st *session.Stack, d Destination) ([]string, error) {
	var names []string
	if d.Host == "" {
		entries, err := os.ReadDir(d.Folder)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			names = append(names, e.Name())
		}
	} else {
		out, err := st.Query(ctx, sshCommand(st, d, "ls", "-1", d.Folder))
		if err != nil {
			return nil, err
		}
		names = strings.Fields(out)
	}
	var out []string
	for _, n := range names {
		if CheckName(n) == nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}
