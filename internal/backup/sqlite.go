package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// An SQLite file is taken through SQLite's online backup, run by
// onlineBackupScript with python3 in a running container of a service that
// writes it: a consistent copy while the service goes on (in WAL mode its
// writers wait for nothing; in rollback-journal mode they wait while the
// copy reads). It writes the copy beside the database (the service's own
// folder, the only one it may write on a read-only root), checks it, and
// streams it to its standard output, which the tool keeps. When the
// service's image has no python3, or BACKUP_SQLITE=pause, the writers are
// paused (docker compose pause) while the file and its -wal or -journal
// are copied: a crash-consistent copy, which SQLite recovers on open.

// sqliteCompanions are the files SQLite keeps beside a database: the
// write-ahead log, its shared-memory index and the rollback journal.
var sqliteCompanions = []string{"-wal", "-shm", "-journal"}

// sqliteCopied are the companions a paused copy takes: the index (-shm)
// is made again from the log.
var sqliteCopied = []string{"", "-wal", "-journal"}

// onlineBackupScript copies the database argv[1] through sqlite3's online
// backup API to a temporary file beside it, checks the copy (quick_check),
// writes it to standard output and removes it. Exit 3: there is no
// database yet. What a killed run left beside the database goes first.
const onlineBackupScript = `import os, sqlite3, sys
path = sys.argv[1]
folder = os.path.dirname(path) or "."
for name in os.listdir(folder):
    if name.startswith(".dtx-backup-"):
        os.remove(os.path.join(folder, name))
if not os.path.isfile(path):
    sys.exit(3)
os.umask(0o077)
tmp = os.path.join(folder, ".dtx-backup-%d.sqlite3" % os.getpid())
try:
    src = sqlite3.connect(path, timeout=60)
    dst = sqlite3.connect(tmp)
    src.backup(dst)
    src.close()
    check = dst.execute("PRAGMA quick_check").fetchone()[0]
    dst.close()
    if check != "ok":
        sys.stderr.write("the copy fails quick_check: %s\n" % check)
        sys.exit(4)
    with open(tmp, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
finally:
    for name in (tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"):
        if os.path.exists(name):
            os.remove(name)
`

// sqliteMagic starts every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// CheckSQLite checks an SQLite database file: its header, its page size,
// and that it holds as many pages as its header says (a torn or cut copy
// does not).
func CheckSQLite(path string) error {
	f, err := openNoFollow(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, _ := f.Stat()
	head := make([]byte, 100)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("not an SQLite database (%d bytes)", fi.Size())
	}
	if !bytes.Equal(head[:16], sqliteMagic) {
		return errors.New("not an SQLite database: its header is not SQLite's")
	}
	pageSize := int64(binary.BigEndian.Uint16(head[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("not an SQLite database: page size %d", pageSize)
	}
	if fi.Size()%pageSize != 0 {
		return fmt.Errorf("the SQLite file is cut: %d bytes is no whole number of %d-byte pages", fi.Size(), pageSize)
	}
	// The header's page count is valid when its version-valid-for number
	// equals the change counter (SQLite 3.7.0 and later write both).
	if bytes.Equal(head[24:28], head[92:96]) {
		if pages := int64(binary.BigEndian.Uint32(head[28:32])); pages*pageSize != fi.Size() {
			return fmt.Errorf("the SQLite file is cut: its header says %d pages, it holds %d", pages, fi.Size()/pageSize)
		}
	}
	return nil
}

// sqliteFingerprint is a SHA-256 of the database as SQLite would read it
// now (hashSQLitePages: the file's pages with the log's committed frames
// over them), and of its rollback journal when there is one: a write
// under way or cut short counts ("sqlite:absent" when there is no
// database). A checkpoint changes nothing in it; a commit always does.
func sqliteFingerprint(abs string) (string, error) {
	db, err := openNoFollow(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return "sqlite:absent", nil
	}
	if err != nil {
		return "", err
	}
	defer db.Close()
	h := sha256.New()
	if err := hashSQLitePages(h, db, abs+"-wal"); err != nil {
		return "", err
	}
	switch j, err := openNoFollow(abs + "-journal"); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", err
	default:
		defer j.Close()
		io.WriteString(h, "journal:\n")
		if _, err := io.Copy(h, j); err != nil {
			return "", err
		}
	}
	return "sqlite:" + hex.EncodeToString(h.Sum(nil)), nil
}
