// Package backup takes, lists and restores the site's data: what the
// compose files declare as data (x-dtx.data, see internal/roles: redis's
// folder, the backend's SQLite file, a stateful service's writable bind
// mounts), and the tool's own state that a server cannot make again (the
// certificates and the deploy history).
//
// A backup is a folder of .dtx/backups (git ignores .dtx/), mode 0700,
// holding one file per part (mode 0600) and manifest.json: the version that
// ran, the time, and each part's size and SHA-256. Each part is taken
// consistently: redis through its own persistence (a point-in-time RDB
// streamed by redis-cli --rdb), an SQLite file through SQLite's online
// backup in a container of a service that writes it (or with its writers
// paused), other files with their writers paused. A backup is written
// into a hidden folder beside the others and renamed into place once
// complete, so that a run killed midway leaves nothing listed; the next
// run removes what it left.
//
// Restore checks the manifest and every part before it touches anything,
// stops the services that write the data, puts it back, starts them and
// waits until they are healthy.
//
// Take, Restore, Latest and the fingerprints (TakeFingerprint,
// WritesSince) are the API a deploy calls; Run, RunRestore and List are the
// targets prod:backup, prod:restore and prod:backups. None takes the lock
// but the targets: a deploy that calls Take holds it already.
package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Dir is where the backups are kept, relative to the project root.
const Dir = ".dtx/backups"

// ManifestFile is the manifest's name in a backup's folder.
const ManifestFile = "manifest.json"

// FormatVersion is the version of the backup's layout; a restore refuses
// a backup of a later one.
const FormatVersion = 1

// partialPrefix starts the folder a backup is written into before it is
// complete: hidden, so never listed.
const partialPrefix = ".partial-"

// The formats of a part's file.
const (
	FormatRDB    = "rdb"      // a redis RDB file, as redis-cli --rdb streams it (trimmed)
	FormatSQLite = "sqlite"   // one consistent SQLite database file
	FormatTar    = "tar"      // a tar of a folder, or of a file and its companions
	FormatAbsent = "absent"   // the data did not exist: a restore removes it
	toolService  = ""         // the service of the tool's own parts
	toolLabel    = "the tool" // how the tool's own parts are named in messages
)

// Manifest describes one backup.
type Manifest struct {
	Format      int       `json:"format"`
	Name        string    `json:"name"`
	Reason      string    `json:"reason"`
	Time        time.Time `json:"time"`
	Project     string    `json:"project"`
	Environment string    `json:"environment"`
	// Version is the version the stack ran when the backup was taken
	// ("" when nothing ran).
	Version  string `json:"version"`
	Duration string `json:"duration,omitempty"`
	Parts    []Part `json:"parts"`
}

// Part is one piece of data in a backup.
type Part struct {
	File    string `json:"file"`              // its file in the backup's folder ("" when absent)
	Service string `json:"service,omitempty"` // "" for the tool's own (certificates, history)
	Kind    string `json:"kind"`              // redis, sqlite or files
	Path    string `json:"path,omitempty"`    // in the service's container
	Source  string `json:"source"`            // on the host, relative to the project root
	Folder  bool   `json:"folder,omitempty"`  // the source is a folder (else a file)
	Format  string `json:"format"`            // rdb, sqlite, tar or absent
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256,omitempty"`
	// Method says how the part was taken consistently, for people.
	Method string `json:"method,omitempty"`
	// Fingerprint is what the data looked like just before it was taken
	// (see TakeFingerprint); "" for the tool's own parts.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Redis is redis's persistence settings when it was taken.
	Redis *RedisConfig `json:"redis,omitempty"`
}

// Key names the data a part holds, whatever backup it is in: the
// service and its path, or the tool's file.
func (p Part) Key() string {
	if p.Service == toolService {
		return "tool:" + p.Source
	}
	return p.Service + ":" + p.Path
}

// Label names the part for people: "redis's /data", "the tool's
// nginx/data/ssl".
func (p Part) Label() string {
	if p.Service == toolService {
		return toolLabel + "'s " + p.Source
	}
	return p.Service + "'s " + p.Path
}

// Size is the backup's size on disk, its parts together.
func (m Manifest) Size() int64 {
	var n int64
	for _, p := range m.Parts {
		n += p.Size
	}
	return n
}

// Fingerprint is the data's fingerprint when the backup was taken, part
// by part (see WritesSince).
func (m Manifest) Fingerprint() Fingerprint {
	fp := Fingerprint{}
	for _, p := range m.Parts {
		if p.Fingerprint != "" {
			fp[p.Key()] = p.Fingerprint
		}
	}
	return fp
}

// validName is a backup's name: what NewName makes. Compiled on first
// use: every call of the tool links this package, few check a name.
var validName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9]{8}-[0-9]{6}-[a-z0-9][a-z0-9.-]{0,47}$`)
})

// CheckName refuses a name that is not a backup's, before it is used as a
// path.
func CheckName(name string) error {
	if !validName().MatchString(name) {
		return fmt.Errorf("%q is not a backup's name (YYYYMMDD-HHMMSS-reason, as ./dtx prod:backups lists them)", clip(name))
	}
	return nil
}

// NewName names a backup taken at t for reason: sortable by time, and
// saying why ("20261206-101500-manual", "20261206-101500-before-1.2.0").
func NewName(t time.Time, reason string) string {
	slug := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, reason)
	slug = strings.Trim(slug, "-.")
	if len(slug) > 40 {
		slug = strings.Trim(slug[:40], "-.")
	}
	if slug == "" {
		slug = "manual"
	}
	return t.UTC().Format("20060102-150405") + "-" + slug
}

// ErrNone is returned (wrapped) when there is no backup.
var ErrNone = errors.New("no backup")

// List reads the complete backups under root, oldest first. A folder
// whose manifest cannot be read is returned in broken, with the reason.
func List(root string) (backups []Manifest, broken map[string]error, err error) {
	dir, err := backupsDir(root, false)
	if err != nil || dir == "" {
		return nil, nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	broken = map[string]error{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.IsDir() || e.Type()&fs.ModeSymlink != 0 {
			continue
		}
		m, err := ReadManifest(root, e.Name())
		if err != nil {
			broken[e.Name()] = err
			continue
		}
		backups = append(backups, m)
	}
	sort.Slice(backups, func(i, j int) bool { return backups[i].Name < backups[j].Name })
	return backups, broken, nil
}

// Latest is the last complete backup under root; an error wrapping ErrNone
// when there is none.
func Latest(root string) (Manifest, error) {
	backups, _, err := List(root)
	if err != nil {
		return Manifest{}, err
	}
	if len(backups) == 0 {
		return Manifest{}, fmt.Errorf("%w in %s yet: take one with ./dtx prod:backup", ErrNone, Dir)
	}
	return backups[len(backups)-1], nil
}

// ReadManifest reads backup name's manifest and checks that it describes
// that backup; it does not read the parts (see Verify).
func ReadManifest(root, name string) (Manifest, error) {
	var m Manifest
	if err := CheckName(name); err != nil {
		return m, err
	}
	data, err := readFileNoFollow(filepath.Join(root, Dir, name, ManifestFile), 1<<20)
	if err != nil {
		return m, fmt.Errorf("backup %s: %s: %w", name, ManifestFile, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("backup %s: %s is not a manifest: %v", name, ManifestFile, err)
	}
	switch {
	case m.Format < 1 || m.Format > FormatVersion:
		return m, fmt.Errorf("backup %s: its format %d is not one this tool reads (%d): restore it with the version of the tool that took it", name, m.Format, FormatVersion)
	case m.Name != name:
		return m, fmt.Errorf("backup %s: its manifest names %q: it was renamed or altered", name, clip(m.Name))
	}
	for _, p := range m.Parts {
		if p.Format != FormatAbsent && (p.File == "" || filepath.Base(p.File) != p.File || strings.HasPrefix(p.File, ".") || p.File == ManifestFile) {
			return m, fmt.Errorf("backup %s: its manifest names the part file %q, which is not a file of the backup", name, clip(p.File))
		}
		if !filepath.IsLocal(p.Source) {
			return m, fmt.Errorf("backup %s: its manifest puts a part at %q, outside the project", name, clip(p.Source))
		}
	}
	return m, nil
}

// Verify checks every part of backup m against its manifest (a regular
// file, its size and SHA-256) and its own format's check (the RDB's
// checksum, SQLite's header), reading the parts and changing nothing.
func Verify(root string, m Manifest) error {
	for _, p := range m.Parts {
		if p.Format == FormatAbsent {
			continue
		}
		path := filepath.Join(root, Dir, m.Name, p.File)
		sum, size, err := hashFile(path)
		if err != nil {
			return fmt.Errorf("backup %s is damaged: its part %s: %w", m.Name, p.File, err)
		}
		if size != p.Size || sum != p.SHA256 {
			return fmt.Errorf("backup %s is damaged: its part %s (%s) does not match its manifest (size %d, want %d; SHA-256 %s…, want %s…)", m.Name, p.File, p.Label(), size, p.Size, short(sum), short(p.SHA256))
		}
		if err := checkFormat(path, p.Format); err != nil {
			return fmt.Errorf("backup %s is damaged: its part %s: %w", m.Name, p.File, err)
		}
	}
	return nil
}

// checkFormat checks a part's file by its own format.
func checkFormat(path, format string) error {
	switch format {
	case FormatRDB:
		return CheckRDB(path)
	case FormatSQLite:
		return CheckSQLite(path)
	case FormatTar:
		return checkTar(path)
	}
	return fmt.Errorf("unknown format %q", clip(format))
}

// backupsDir is root's backups folder, made (mode 0700) when make is
// true; "" when it does not exist and make is false. It refuses a folder
// on the way that is a symbolic link: the tool never follows one out of
// the project.
func backupsDir(root string, make bool) (string, error) {
	if err := refuseLinks(root, Dir); err != nil {
		return "", err
	}
	dir := filepath.Join(root, Dir)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) && !make {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// The backups hold the data and private keys: only their owner reads.
	if fi, err := os.Lstat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 && make {
		if err := os.Chmod(dir, 0o700); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// refuseLinks refuses rel (relative to root), or a folder on its way,
// that is a symbolic link.
func refuseLinks(root, rel string) error {
	for p := filepath.Clean(rel); p != "." && p != "/"; p = filepath.Dir(p) {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link: the backups never follow a link out of the project; make it a real folder or file", p)
		}
	}
	return nil
}

// readFileNoFollow reads a regular file that is not a link, at most max
// bytes.
func readFileNoFollow(path string, max int64) ([]byte, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}

// openNoFollow opens a regular file for reading, refusing a link.
func openNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link, which the backups never follow", path)
		}
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return f, nil
}

// hashFile is a regular file's SHA-256 and size.
func hashFile(path string) (string, int64, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// HumanSize says n bytes for people: 512 B, 1.5 kB, 12.3 MB.
func HumanSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}
