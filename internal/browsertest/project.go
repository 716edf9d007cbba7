package browsertest

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// skippedNames are left out of the copy of the project, wherever they are:
// installed packages (the runner brings its own, built for it) and git's
// folder; and at the top of the project, what earlier runs wrote there.
var (
	skippedNames    = []string{"node_modules", ".git", "test-results", "playwright-report", "blob-report"}
	skippedAnywhere = map[string]bool{"node_modules": true, ".git": true}
)

// WrapperConfig is the config test:e2e writes beside a Playwright project's
// own (see wrapperSource): it loads that one unchanged and points it at the
// test stack and at Results.
func (c Config) WrapperConfig() []byte {
	r := strings.NewReplacer("'__CONFIG__'", strconv.Quote("./"+c.ConfigFile), "__CONFIG_NAME__", c.ConfigFile)
	return []byte(r.Replace(wrapperSource))
}

// WriteProject writes dir (the project folder) as a tar for CopyProject:
// its folders, files and links (a link as a link, never followed), without
// skippedNames; then the extra files, at its top. Nothing outside dir is
// read. It has no entry for dir itself, so that the copy leaves Workdir's
// owner (the runner's user) as it is; docker cp owns the files as root,
// whatever the tar says.
func WriteProject(w io.Writer, dir string, extra map[string][]byte) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		if skippedAnywhere[d.Name()] || (!strings.Contains(name, "/") && isSkippedAtTop(name)) || extra[name] != nil {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: name, ModTime: info.ModTime(), Format: tar.FormatPAX}
		switch {
		case info.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, target, 0o777
		case info.Mode().IsRegular():
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, info.Size(), int64(0o644|info.Mode().Perm()&0o111)
		default: // sockets, pipes, devices: nothing a test reads
			return nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(tw, f, hdr.Size)
		return err
	})
	if err != nil {
		return err
	}
	for name, data := range extra {
		hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	return tw.Close()
}

func isSkippedAtTop(name string) bool {
	if name == path.Base(Results) {
		return true
	}
	for _, s := range skippedNames {
		if name == s {
			return true
		}
	}
	return false
}

// Unpacked is what UnpackResults wrote and what it left out.
type Unpacked struct {
	Files   int
	Dropped []string // links and special files, by name: never written, never followed
}

// UnpackResults unpacks the tar `docker cp CONTAINER:Results -` writes into
// dest, which must not exist: the folders and regular files, each under
// dest (the tar's top folder, e2e-results/, is dest itself). A link (to
// anything, anywhere), a device or a pipe is dropped and named in Dropped;
// an entry whose name leaves dest stops the unpacking with an error. Since
// no link is ever written, no later entry can be written through one.
func UnpackResults(r io.Reader, dest string) (Unpacked, error) {
	var u Unpacked
	if err := os.Mkdir(dest, 0o755); err != nil {
		return u, err
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return u, nil
		}
		if err != nil {
			return u, fmt.Errorf("reading the runner's results: %w", err)
		}
		// docker cp names every entry under the folder copied, e2e-results/:
		// anything else (../x, e2e-results/../../x) leaves it.
		top := path.Base(Results)
		name := path.Clean(hdr.Name)
		rel, inside := strings.CutPrefix(name, top+"/")
		if name == top {
			rel, inside = "", true
		}
		if !inside {
			return u, fmt.Errorf("the runner's results hold %q, which leaves %s: nothing more was copied", hdr.Name, ArtifactsDir)
		}
		target := filepath.Join(dest, filepath.FromSlash(rel))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return u, err
			}
		case tar.TypeReg:
			if rel == "" {
				return u, fmt.Errorf("the runner's results are a file, not a folder: %q", hdr.Name)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return u, err
			}
			if err := writeFile(target, tr, int64(0o644|hdr.FileInfo().Mode().Perm()&0o111)); err != nil {
				return u, err
			}
			u.Files++
		default: // symlinks, hard links, devices, pipes
			u.Dropped = append(u.Dropped, rel)
		}
	}
}

// writeFile creates path (O_EXCL: never through a link, never over a file)
// with r's content.
func writeFile(path string, r io.Reader, mode int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(mode))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
