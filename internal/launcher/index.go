package launcher

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The index is what makes a call cheap, as git's index and Go's build cache
// do: per root, the stat of every folder walked and of every source file,
// with each file's SHA-256. A call stats them all (no read, no hash) and
// reuses the recorded hashes of the files whose stat did not change. A
// folder whose stat changed (a file added, removed or renamed in it) makes
// the call walk the tree again; a file whose stat changed is read and
// hashed again; and nothing that changed less than racyWindow before the
// index was taken is trusted (see trusted).

// indexVersion changes whenever the format or the meaning of the index
// changes: an index of another version is ignored.
const indexVersion = "dtx index 1"

// racyWindow is how long after a change a stat cannot be trusted to show
// the next change. A file written, indexed and written again within one
// tick of the file system's clock (a second or two on some file systems, a
// few milliseconds on Linux's ext4 without fine-grained timestamps) keeps
// its mtime and ctime; with the same size, its stat does not change. So,
// as git does with "racily clean" entries, an entry whose mtime or ctime
// is not at least racyWindow older than the moment its index was taken is
// read again, until an index taken later trusts it. 2 s covers the
// coarsest clock in use (FAT's).
const racyWindow = int64(2 * time.Second)

// fingerprint is what stat says about a file or folder: enough to tell,
// without reading it, that it did not change since it was hashed.
type fingerprint struct {
	size, mtime, ctime int64 // mtime and ctime in nanoseconds since 1970
	ino                uint64
	mode               uint32
}

func fingerprintOf(st *syscall.Stat_t) fingerprint {
	return fingerprint{
		size:  st.Size,
		mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec,
		ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec,
		ino:   st.Ino,
		mode:  st.Mode,
	}
}

func (f fingerprint) isDir() bool     { return f.mode&syscall.S_IFMT == syscall.S_IFDIR }
func (f fingerprint) isRegular() bool { return f.mode&syscall.S_IFMT == syscall.S_IFREG }

// entry is one folder or source file of the index.
type entry struct {
	rel string // slash-separated, relative to the root; "." is the root
	dir bool
	fp  fingerprint
	sum [sha256.Size]byte // the file's SHA-256 (files only)
}

// index is the state of one root's sources, as of snapshot.
type index struct {
	root     string
	snapshot int64   // when the stats were taken, in ns since 1970
	entries  []entry // sorted by rel
	tool     toolchain
}

// trusted reports whether an entry recorded with fp, now stat'ed as now,
// can be taken as unchanged without reading it.
func (ix *index) trusted(fp, now fingerprint) bool {
	return fp == now && max(fp.mtime, fp.ctime) < ix.snapshot-racyWindow
}

func (ix *index) has(rel string) bool {
	i := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].rel >= rel })
	return i < len(ix.entries) && ix.entries[i].rel == rel && !ix.entries[i].dir
}

func (ix *index) hasUnder(prefix string) bool {
	i := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].rel >= prefix })
	for ; i < len(ix.entries) && strings.HasPrefix(ix.entries[i].rel, prefix); i++ {
		if !ix.entries[i].dir {
			return true
		}
	}
	return false
}

// fileSum is a source file as the build key sees it.
type fileSum struct {
	rel string
	sum [sha256.Size]byte
}

// files returns the source files with their hashes, sorted by path.
func (ix *index) files() []fileSum {
	var files []fileSum
	for _, e := range ix.entries {
		if !e.dir {
			files = append(files, fileSum{e.rel, e.sum})
		}
	}
	return files
}

// scanner reads a root's sources.
type scanner struct {
	root string
	// lstat is syscall.Lstat; a test stands in for a file system whose
	// clock did not tick between two writes.
	lstat func(path string) (fingerprint, error)
	now   func() int64
}

func newScanner(root string) *scanner {
	return &scanner{
		root: root,
		lstat: func(path string) (fingerprint, error) {
			var st syscall.Stat_t
			if err := syscall.Lstat(path, &st); err != nil {
				return fingerprint{}, &os.PathError{Op: "lstat", Path: path, Err: err}
			}
			return fingerprintOf(&st), nil
		},
		now: func() int64 { return time.Now().UnixNano() },
	}
}

func (s *scanner) path(rel string) string {
	if rel == "." {
		return s.root
	}
	return s.root + "/" + rel
}

// scanStats says what a refresh had to do.
type scanStats struct {
	walked bool // the tree was walked again
	hashed int  // files read and hashed
}

// refresh returns the index of the sources as they are now, reusing old
// (nil: none) where its stats show nothing changed. It returns old itself
// when nothing changed and nothing had to be read.
func (s *scanner) refresh(old *index) (*index, scanStats, error) {
	now := s.now() // before any stat: see trusted
	var stats scanStats
	var entries []entry
	if old != nil && old.root == s.root {
		entries = s.statAll(old)
	} else {
		old = nil
	}
	var previous map[string]entry // old's entries by path, after a walk
	if entries == nil {
		var err error
		if entries, err = s.walk(); err != nil {
			return nil, stats, err
		}
		stats.walked = true
		if old != nil {
			previous = make(map[string]entry, len(old.entries))
			for _, e := range old.entries {
				previous[e.rel] = e
			}
		}
	}
	kept := entries[:0]
	for i, e := range entries {
		if !e.dir {
			var prev entry
			var ok bool
			if previous != nil {
				prev, ok = previous[e.rel]
			} else if old != nil {
				prev, ok = old.entries[i], true
			}
			if ok && !prev.dir && old.trusted(prev.fp, e.fp) {
				e.sum = prev.sum
			} else {
				// The stat taken before the read is the one recorded: a
				// change after it shows as a new stat next time.
				data, err := os.ReadFile(s.path(e.rel))
				if errors.Is(err, os.ErrNotExist) {
					stats.walked = true // removed since: gone from the index
					continue
				}
				if err != nil {
					return nil, stats, err
				}
				e.sum = sha256.Sum256(data)
				stats.hashed++
			}
		}
		kept = append(kept, e)
	}
	if !stats.walked && stats.hashed == 0 {
		return old, stats, nil
	}
	ix := &index{root: s.root, snapshot: now, entries: kept}
	if old != nil {
		ix.tool = old.tool
	}
	return ix, stats, nil
}

// statAll stats every entry of old again, in as many parts at once as Go
// runs threads (up to 4): the stats are most of a current tool's check of
// itself on every call, and each waits on the kernel alone. nil when a
// folder changed or a file went (the tree must be walked again).
func (s *scanner) statAll(old *index) []entry {
	entries := make([]entry, len(old.entries))
	parts := min(runtime.GOMAXPROCS(0), 4, max(len(entries)/64, 1))
	var changed atomic.Bool
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p * len(entries) / parts; i < (p+1)*len(entries)/parts && !changed.Load(); i++ {
				e := old.entries[i]
				fp, err := s.lstat(s.path(e.rel))
				if err != nil || (e.dir && !old.trusted(e.fp, fp)) {
					changed.Store(true)
					return
				}
				entries[i] = entry{rel: e.rel, dir: e.dir, fp: fp}
			}
		}()
	}
	wg.Wait()
	if changed.Load() {
		return nil
	}
	return entries
}

// isSourceDir reports whether the go command looks into a folder of this
// name (it skips those starting with . or _, and testdata); node_modules
// holds no Go of this project.
func isSourceDir(name string) bool {
	return !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_") && name != "testdata" && name != "node_modules"
}

// thirdParty is the folder of the patched copies of modules that the root
// go.mod replaces with a local path (third_party/README.md). Each is a
// nested module the build needs whole: its go.mod, its Go files, and the
// files it embeds (jsonschema's metaschemas have no extension), so every
// file under it but tests is a source.
const thirdParty = "third_party"

func inThirdParty(rel string) bool {
	return rel == thirdParty || strings.HasPrefix(rel, thirdParty+"/")
}

// isSource reports whether the file name in folder rel is one the tool is
// built from: a non-test Go file the go command would read, the root's
// go.mod or go.sum, or a file of a module under third_party/.
func isSource(rel, name string) bool {
	if strings.ContainsRune(name, '\n') {
		return false
	}
	if rel == "." && (name == "go.mod" || name == "go.sum") {
		return true
	}
	if inThirdParty(rel) {
		return !strings.HasSuffix(name, "_test.go") && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")
	}
	// The file `go tool mage` writes beside the magefiles while it compiles
	// (a developer's own run, or a test's): never a source of the tool, and
	// copying it would make mage's compile fail on a duplicate main.
	if rel == "magefiles" && name == "mage_output_file.go" {
		return false
	}
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")
}

// walk lists the folders and source files under the root with their stats
// (no hashes). A folder's stat is taken before it is read, so a change
// after the read shows in its stat. It skips nested modules but those
// under third_party/ (recording their folder, so that one losing its
// go.mod is walked) and folders it cannot read (data folders a container
// created as root).
func (s *scanner) walk() ([]entry, error) {
	var entries []entry
	var visit func(rel string) error
	visit = func(rel string) error {
		dir := s.path(rel)
		fp, err := s.lstat(dir)
		if err != nil || !fp.isDir() {
			if rel == "." {
				return fmt.Errorf("%s: %v", s.root, err)
			}
			return nil // removed while walking: the next call sees its parent changed
		}
		entries = append(entries, entry{rel: rel, dir: true, fp: fp})
		if rel != "." && !inThirdParty(rel) {
			if _, err := os.Lstat(dir + "/go.mod"); err == nil {
				return nil
			}
		}
		list, err := os.ReadDir(dir)
		if err != nil {
			if rel == "." {
				return err
			}
			return nil
		}
		for _, d := range list {
			name := d.Name()
			child := name
			if rel != "." {
				child = rel + "/" + name
			}
			switch {
			case d.IsDir():
				if isSourceDir(name) && !strings.ContainsRune(name, '\n') {
					if err := visit(child); err != nil {
						return err
					}
				}
			case d.Type().IsRegular() && isSource(rel, name):
				if fp, err := s.lstat(s.path(child)); err == nil && fp.isRegular() {
					entries = append(entries, entry{rel: child, fp: fp})
				}
			}
		}
		return nil
	}
	if err := visit("."); err != nil {
		return nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].rel < entries[j].rel })
	return entries, nil
}

// source is one file the tool is built from, as read once: its hash and its
// build copy come from the same bytes.
type source struct {
	rel  string
	data []byte
}

// readSources reads every source file under the root (for a build).
func (s *scanner) readSources() ([]source, []fileSum, error) {
	entries, err := s.walk()
	if err != nil {
		return nil, nil, err
	}
	var files []source
	var sums []fileSum
	for _, e := range entries {
		if e.dir {
			continue
		}
		data, err := os.ReadFile(s.path(e.rel))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		files = append(files, source{e.rel, data})
		sums = append(sums, fileSum{e.rel, sha256.Sum256(data)})
	}
	return files, sums, nil
}

// indexPath is where the index of root is kept in the cache.
func indexPath(cache, root string) string {
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(cache, "index-"+hex.EncodeToString(sum[:8]))
}

// readIndex reads the index of root kept in the cache; nil if there is none
// (or it is of another version, or damaged: it is only a cache).
func readIndex(path, root string) *index {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	ix, err := parseIndex(data)
	if err != nil || ix.root != root {
		return nil
	}
	return ix
}

// The index is text, one record a line:
//
//	dtx index 1
//	root /abs/root
//	snapshot NS
//	tool FINGERPRINT
//	env NAME=VALUE            (the toolchain's settings, see toolchain.go)
//	d SIZE MTIME CTIME INO MODE REL
//	f SIZE MTIME CTIME INO MODE SHA256 REL
func parseIndex(data []byte) (*index, error) {
	bad := errors.New("damaged index")
	text := string(data) // one copy: the paths are slices of it
	first, text, _ := strings.Cut(text, "\n")
	if first != indexVersion {
		return nil, bad
	}
	// One entry a line: the slice is made once (this runs on every call).
	ix := &index{entries: make([]entry, 0, strings.Count(text, "\n"))}
	for text != "" {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "root":
			ix.root = rest
		case "snapshot":
			n, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				return nil, bad
			}
			ix.snapshot = n
		case "tool":
			ix.tool.fingerprint = rest
		case "env":
			ix.tool.settings = append(ix.tool.settings, rest)
		case "d", "f":
			e := entry{dir: kind == "d"}
			var nums [5]int64
			for i := range nums {
				field, after, ok := strings.Cut(rest, " ")
				if !ok {
					return nil, bad
				}
				var err error
				if i == 3 { // the inode: unsigned
					e.fp.ino, err = strconv.ParseUint(field, 10, 64)
				} else {
					nums[i], err = strconv.ParseInt(field, 10, 64)
				}
				if err != nil {
					return nil, bad
				}
				rest = after
			}
			e.fp.size, e.fp.mtime, e.fp.ctime, e.fp.mode = nums[0], nums[1], nums[2], uint32(nums[4])
			if !e.dir {
				sum, after, ok := strings.Cut(rest, " ")
				if n, err := hex.Decode(e.sum[:], []byte(sum)); !ok || err != nil || n != sha256.Size {
					return nil, bad
				}
				rest = after
			}
			if rest == "" {
				return nil, bad
			}
			e.rel = rest
			ix.entries = append(ix.entries, e)
		default:
			return nil, bad
		}
	}
	if ix.root == "" {
		return nil, bad
	}
	return ix, nil
}

func (ix *index) marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nroot %s\nsnapshot %d\ntool %s\n", indexVersion, ix.root, ix.snapshot, ix.tool.fingerprint)
	for _, s := range ix.tool.settings {
		fmt.Fprintf(&b, "env %s\n", s)
	}
	for _, e := range ix.entries {
		kind := "f"
		if e.dir {
			kind = "d"
		}
		fmt.Fprintf(&b, "%s %d %d %d %d %d ", kind, e.fp.size, e.fp.mtime, e.fp.ctime, e.fp.ino, e.fp.mode)
		if !e.dir {
			fmt.Fprintf(&b, "%x ", e.sum)
		}
		fmt.Fprintf(&b, "%s\n", e.rel)
	}
	return b.Bytes()
}

// writeIndex replaces the index at path in one rename: a concurrent call
// reads the old one or the new one, never half of one.
func writeIndex(path string, ix *index) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(ix.marshal())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
