package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// A folder, or a file with its companions, is kept as a tar. Links are
// kept as links (never followed), and only those that lead to somewhere
// inside the part (certbot's live/ links into archive/); one that leads
// out of it is left out, and said.

// tarDir writes the folder abs into tw, its entries named relative to it.
// It returns what it left out, for a warning.
func tarDir(tw *tar.Writer, abs string) (left []string, err error) {
	err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == abs {
			return nil
		}
		rel, _ := filepath.Rel(abs, path)
		skipped, err := tarEntry(tw, abs, path, filepath.ToSlash(rel))
		if skipped != "" {
			left = append(left, skipped)
		}
		return err
	})
	return left, err
}

// tarFiles writes the named files of folder dir (those that exist) into tw.
func tarFiles(tw *tar.Writer, dir string, names []string) (found []string, err error) {
	for _, name := range names {
		path := filepath.Join(dir, name)
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return found, err
		}
		if !fi.Mode().IsRegular() {
			return found, fmt.Errorf("%s is not a regular file (a link?): the backups copy only files of the project", path)
		}
		if _, err := tarEntry(tw, dir, path, name); err != nil {
			return found, err
		}
		found = append(found, name)
	}
	return found, nil
}

// tarEntry writes one entry; skipped names it when it was left out.
func tarEntry(tw *tar.Writer, within, path, name string) (skipped string, err error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	link := ""
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err = os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !linkStaysWithin(within, path, link) {
			return name + " (a link out of " + filepath.Base(within) + ")", nil
		}
	case fi.IsDir(), fi.Mode().IsRegular():
	default:
		return name + " (not a file, folder or link)", nil
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return "", err
	}
	hdr.Name = name
	hdr.Uname, hdr.Gname = "", ""
	if fi.IsDir() {
		hdr.Name += "/"
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", nil
	}
	f, err := openNoFollow(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return "", fmt.Errorf("%s changed while it was copied (%v): are its writers stopped?", path, err)
	}
	return "", nil
}

// linkStaysWithin tells whether the link at path, leading to target,
// leads to somewhere inside within (lexically: a relative target that
// does not climb out).
func linkStaysWithin(within, path, target string) bool {
	if filepath.IsAbs(target) {
		return false
	}
	dest := filepath.Join(filepath.Dir(path), target)
	rel, err := filepath.Rel(within, dest)
	return err == nil && filepath.IsLocal(rel)
}

// checkTar reads a tar to its end and checks every entry as extractTar
// would, writing nothing: a cut or altered archive fails here.
func checkTar(path string) error {
	f, err := openNoFollow(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a whole tar: %w", err)
		}
		if err := checkEntry(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("not a whole tar: %w", err)
		}
	}
}

// checkEntry refuses an entry that would land outside the folder it is
// extracted into, or that is not a file, folder or link inside.
func checkEntry(hdr *tar.Header) error {
	name := strings.TrimSuffix(hdr.Name, "/")
	if !filepath.IsLocal(name) {
		return fmt.Errorf("its entry %q would land outside the folder it is restored into", clip(hdr.Name))
	}
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeReg:
	case tar.TypeSymlink:
		if !linkStaysWithin(".", name, hdr.Linkname) {
			return fmt.Errorf("its entry %q is a link out of the folder it is restored into", clip(hdr.Name))
		}
	default:
		return fmt.Errorf("its entry %q is not a file, folder or link", clip(hdr.Name))
	}
	return nil
}

// extractTar extracts the tar r into the empty folder dest: files, folders
// and links that stay inside, with their modes, and their owners when the
// tool runs as root.
func extractTar(r io.Reader, dest string) error {
	tr := tar.NewReader(r)
	type dirMode struct {
		path string
		hdr  *tar.Header
	}
	var dirs []dirMode
	root := os.Geteuid() == 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not a whole tar: %w", err)
		}
		if err := checkEntry(hdr); err != nil {
			return err
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		path := filepath.Join(dest, name)
		if err := refuseLinks(dest, filepath.Dir(name)); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			dirs = append(dirs, dirMode{path, hdr})
			continue
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, path); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Chmod(path, fs.FileMode(hdr.Mode).Perm()); err != nil {
				return err
			}
		}
		if root {
			if err := os.Lchown(path, hdr.Uid, hdr.Gid); err != nil {
				return err
			}
		}
	}
	// Folders last, deepest first: a read-only folder is made so only once
	// what goes in it is in.
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].path > dirs[j].path })
	for _, d := range dirs {
		if root {
			if err := os.Lchown(d.path, d.hdr.Uid, d.hdr.Gid); err != nil {
				return err
			}
		}
		if err := os.Chmod(d.path, fs.FileMode(d.hdr.Mode).Perm()); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies the regular file src to the new file dst (mode), synced.
func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := openNoFollow(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// The folders a restore works in, inside the data's own folder (which git
// ignores, and the service's user owns): the new data before it moves in,
// and the old data until the new is in place. A killed restore's are
// removed by the next.
const (
	restoringDir = ".dtx-restore"
	oldDir       = ".dtx-old"
)

// replaceEntries puts every entry of staging into folder, in place of the
// entries named old and those of the same names: the old ones move aside
// first, then the new ones in, each by a rename; then the old ones and
// staging are removed.
func replaceEntries(folder, staging string, old []string) error {
	aside := filepath.Join(folder, oldDir)
	if err := os.RemoveAll(aside); err != nil {
		return err
	}
	if err := os.Mkdir(aside, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(staging)
	if err != nil {
		return err
	}
	moving := append([]string{}, old...)
	for _, e := range entries {
		moving = append(moving, e.Name())
	}
	for _, name := range moving {
		if name == restoringDir || name == oldDir {
			continue
		}
		if _, err := os.Lstat(filepath.Join(folder, name)); err == nil {
			if err := os.Rename(filepath.Join(folder, name), filepath.Join(aside, name)); err != nil {
				return err
			}
		}
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(staging, e.Name()), filepath.Join(folder, e.Name())); err != nil {
			return err
		}
	}
	syncDir(folder)
	if err := os.RemoveAll(aside); err != nil {
		return err
	}
	return os.RemoveAll(staging)
}

// entriesOf lists a folder's entries but the restore's own.
func entriesOf(folder string) ([]string, error) {
	entries, err := os.ReadDir(folder)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Name() != restoringDir && e.Name() != oldDir {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// chownTree gives path and what is under it to uid:gid (links
// themselves, never what they lead to); only root can.
func chownTree(path string, uid, gid int) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// ownerOf is the owner of path.
func ownerOf(path string) (uid, gid int, err error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("%s: no owner", path)
	}
	return int(st.Uid), int(st.Gid), nil
}

// treeFingerprint is a SHA-256 of a file or folder as it is now: names,
// kinds, link targets and contents ("absent" when it does not exist).
func treeFingerprint(abs string) (string, error) {
	if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
		return "files:absent", nil
	}
	h := sha256.New()
	err := filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(abs, path)
		fmt.Fprintf(h, "%s\x00%v\x00", rel, d.Type())
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00", link)
		case d.Type().IsRegular():
			f, err := openNoFollow(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return "files:" + hex.EncodeToString(h.Sum(nil)), nil
}

// syncDir flushes a folder's entries (a rename) to disk.
func syncDir(path string) {
	if d, err := os.Open(path); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
