package backup

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The recorded output of redis 7.0.15 (the offline base's): what
// `redis-cli --rdb -` wrote to stdout and stderr for 21 keys (20 strings and a list of 3) with AOF on,
// and its INFO persistence and CONFIG GET answers.
func recorded(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// redis's CRC-64 (Jones), on its own test vector (redis's crc64.c).
func TestCRC64IsRedis(t *testing.T) {
	if got := crc64Redis(0, []byte("123456789")); got != 0xe9c6d914c4b8d9ca {
		t.Fatalf("crc64(123456789) = %016x, want e9c6d914c4b8d9ca", got)
	}
}

// The stream ends with the 40-byte end mark; stderr says where the RDB
// ends; cut there it passes its own CRC, and not before.
func TestRDBFromTheStream(t *testing.T) {
	stream := recorded(t, "redis-7.0.15.stream")
	n, ok := rdbLength(string(recorded(t, "redis-7.0.15.stderr")))
	if !ok || n != int64(len(stream))-40 {
		t.Fatalf("length %d %v, want the stream's %d less the 40-byte mark", n, ok, len(stream))
	}
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole.rdb")
	os.WriteFile(whole, stream[:n], 0o600)
	if err := CheckRDB(whole); err != nil {
		t.Fatalf("the recorded RDB: %v", err)
	}
	for name, data := range map[string][]byte{
		"with the end mark": stream,
		"cut":               stream[:n-20],
		"flipped":           append(append(append([]byte{}, stream[:100]...), stream[100]^1), stream[101:n]...),
		"not an RDB":        []byte("SQLite format 3\x00 and then some more bytes"),
	} {
		path := filepath.Join(dir, "bad.rdb")
		os.WriteFile(path, data, 0o600)
		if err := CheckRDB(path); err == nil {
			t.Errorf("%s: passes CheckRDB", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: not one line: %q", name, err)
		}
	}
	if _, ok := rdbLength("SYNC sent to master, writing 524 bytes to '-'\nTransfer finished with success.\n"); ok {
		t.Error("a disk-based transfer (no end mark) was given a length")
	}
}

func TestRedisConfigAndFingerprint(t *testing.T) {
	cfg, err := ParseRedisConfig(string(recorded(t, "redis-7.0.15.config")))
	if err != nil {
		t.Fatal(err)
	}
	want := RedisConfig{Dir: "/data", AppendOnly: true, AppendDirName: "appendonlydir", AppendFilename: "appendonly.aof", DBFilename: "dump.rdb"}
	if cfg != want {
		t.Fatalf("config %+v, want %+v", cfg, want)
	}
	if _, err := ParseRedisConfig("dir\n/data\ndbfilename\n../../etc/passwd\nappendonly\nno\n"); err == nil || !strings.Contains(err.Error(), "which a restore does not write") {
		t.Errorf("a file name with a path: %v", err)
	}
	if _, err := ParseRedisConfig("NOAUTH Authentication required.\n"); err == nil {
		t.Error("an error reply parsed")
	}
	fp, err := redisFingerprint(string(recorded(t, "redis-7.0.15.info")))
	if err != nil || !strings.HasPrefix(fp, "redis:saved-") || !strings.HasSuffix(fp, "+23") {
		t.Fatalf("fingerprint %q %v: want the last save and its 23 writes since (20 keys set, 3 elements pushed)", fp, err)
	}
}

// A restore writes what redis loads at start: with AOF on (redis 7+),
// the RDB as the append-only folder's base and a manifest naming it;
// before redis 7 an RDB-preamble append-only file; always dump.rdb.
func TestRedisFilesForEachSetting(t *testing.T) {
	dir := t.TempDir()
	rdb := filepath.Join(dir, "in.rdb")
	os.WriteFile(rdb, []byte("REDIS0010..."), 0o600)
	for _, c := range []struct {
		name  string
		cfg   RedisConfig
		files map[string]string
	}{
		{"AOF, redis 7+", RedisConfig{Dir: "/data", AppendOnly: true, AppendDirName: "appendonlydir", AppendFilename: "appendonly.aof", DBFilename: "dump.rdb"}, map[string]string{
			"dump.rdb": "REDIS0010...", "appendonlydir/appendonly.aof.1.base.rdb": "REDIS0010...",
			"appendonlydir/appendonly.aof.manifest": "file appendonly.aof.1.base.rdb seq 1 type b\n"}},
		{"AOF, redis 6", RedisConfig{Dir: "/data", AppendOnly: true, AppendFilename: "appendonly.aof", DBFilename: "dump.rdb"}, map[string]string{
			"dump.rdb": "REDIS0010...", "appendonly.aof": "REDIS0010..."}},
		{"no AOF", RedisConfig{Dir: "/data", AppendFilename: "appendonly.aof", DBFilename: "redis.rdb"}, map[string]string{"redis.rdb": "REDIS0010..."}},
	} {
		out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		os.Mkdir(out, 0o700)
		if _, err := redisFiles(out, rdb, c.cfg); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := map[string]string{}
		filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
			if !d.IsDir() {
				data, _ := os.ReadFile(path)
				rel, _ := filepath.Rel(out, path)
				got[rel] = string(data)
			}
			return nil
		})
		if len(got) != len(c.files) {
			t.Errorf("%s: wrote %v, want %v", c.name, got, c.files)
		}
		for name, content := range c.files {
			if got[name] != content {
				t.Errorf("%s: %s holds %q, want %q", c.name, name, got[name], content)
			}
		}
	}
}

func TestCheckSQLite(t *testing.T) {
	db := recorded(t, "notes.sqlite3")
	dir := t.TempDir()
	path := filepath.Join(dir, "db.sqlite3")
	os.WriteFile(path, db, 0o600)
	if err := CheckSQLite(path); err != nil {
		t.Fatalf("a whole database: %v", err)
	}
	for name, data := range map[string][]byte{
		"cut at a page":   db[:4096],
		"cut in a page":   db[:5000],
		"not SQLite":      []byte(strings.Repeat("x", 4096)),
		"too short":       db[:50],
		"bad page size":   append(append(append([]byte{}, db[:16]...), 0x03, 0x00), db[18:]...),
		"an RDB instead":  recorded(t, "redis-7.0.15.stream"),
		"empty":           nil,
		"header is a lie": append(append(append([]byte{}, db[:28]...), 0, 0, 0, 9), db[32:]...),
	} {
		os.WriteFile(path, data, 0o600)
		if err := CheckSQLite(path); err == nil {
			t.Errorf("%s: passes CheckSQLite", name)
		}
	}
}

// A folder goes into a tar with its links that stay inside (certbot's
// live/ links into archive/) and without those that lead out; it comes
// back with its modes.
func TestTarKeepsLinksInsideOnly(t *testing.T) {
	src := filepath.Join(t.TempDir(), "conf")
	os.MkdirAll(filepath.Join(src, "archive/site"), 0o755)
	os.MkdirAll(filepath.Join(src, "live/site"), 0o755)
	os.WriteFile(filepath.Join(src, "archive/site/privkey1.pem"), []byte("KEY"), 0o600)
	os.Symlink("../../archive/site/privkey1.pem", filepath.Join(src, "live/site/privkey.pem"))
	os.Symlink("/etc/passwd", filepath.Join(src, "live/site/out-absolute"))
	os.Symlink("../../../outside", filepath.Join(src, "live/site/out-relative"))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	left, err := tarDir(tw, src)
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	if strings.Join(left, ",") != "live/site/out-absolute (a link out of conf),live/site/out-relative (a link out of conf)" {
		t.Errorf("left out %v", left)
	}
	dest := filepath.Join(t.TempDir(), "restored")
	os.Mkdir(dest, 0o700)
	if err := extractTar(bytes.NewReader(buf.Bytes()), dest); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dest, "live/site/privkey.pem")); err != nil || string(data) != "KEY" {
		t.Errorf("through the kept link: %q %v", data, err)
	}
	if fi, _ := os.Stat(filepath.Join(dest, "archive/site/privkey1.pem")); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode().Perm())
	}
	if _, err := os.Lstat(filepath.Join(dest, "live/site/out-absolute")); err == nil {
		t.Error("a link out of the folder came back")
	}
}

// An archive whose entries would land outside, or that is cut, is
// refused before anything is written.
func TestTarEntriesThatEscapeAreRefused(t *testing.T) {
	for name, hdrs := range map[string][]*tar.Header{
		"dot-dot":        {{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"absolute":       {{Name: "/etc/evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"link out":       {{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../../etc"}},
		"absolute link":  {{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc"}},
		"device":         {{Name: "d", Typeflag: tar.TypeChar}},
		"through a link": {{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "."}, {Name: "l/x", Typeflag: tar.TypeReg, Mode: 0o644}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range hdrs {
			tw.WriteHeader(h)
		}
		tw.Close()
		dest := filepath.Join(t.TempDir(), "d")
		os.Mkdir(dest, 0o700)
		err := extractTar(bytes.NewReader(buf.Bytes()), dest)
		if err == nil {
			t.Errorf("%s: extracted", name)
		}
		path := filepath.Join(t.TempDir(), "part.tar")
		os.WriteFile(path, buf.Bytes(), 0o600)
		if name != "through a link" && checkTar(path) == nil {
			t.Errorf("%s: passes checkTar", name)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1000})
	tw.Write(bytes.Repeat([]byte("x"), 1000))
	tw.Close()
	path := filepath.Join(t.TempDir(), "cut.tar")
	os.WriteFile(path, buf.Bytes()[:700], 0o600)
	if checkTar(path) == nil {
		t.Error("a cut tar passes checkTar")
	}
}

// The new entries take the old ones' places by renames; what else the
// folder holds stays.
func TestReplaceEntries(t *testing.T) {
	folder := t.TempDir()
	os.WriteFile(filepath.Join(folder, "dump.rdb"), []byte("old"), 0o600)
	os.MkdirAll(filepath.Join(folder, "appendonlydir"), 0o755)
	os.WriteFile(filepath.Join(folder, "appendonlydir/appendonly.aof.7.incr.aof"), []byte("old"), 0o600)
	os.WriteFile(filepath.Join(folder, "other"), []byte("kept"), 0o600)
	staging := filepath.Join(folder, restoringDir)
	os.MkdirAll(filepath.Join(staging, "appendonlydir"), 0o755)
	os.WriteFile(filepath.Join(staging, "dump.rdb"), []byte("new"), 0o600)
	os.WriteFile(filepath.Join(staging, "appendonlydir/appendonly.aof.1.base.rdb"), []byte("new"), 0o600)
	if err := replaceEntries(folder, staging, []string{"dump.rdb", "appendonly.aof", "appendonlydir"}); err != nil {
		t.Fatal(err)
	}
	names, _ := entriesOf(folder)
	if strings.Join(names, ",") != "appendonlydir,dump.rdb,other" {
		t.Errorf("folder holds %v", names)
	}
	if aof, _ := os.ReadDir(filepath.Join(folder, "appendonlydir")); len(aof) != 1 || aof[0].Name() != "appendonly.aof.1.base.rdb" {
		t.Errorf("the append-only folder holds %v", aof)
	}
	for _, gone := range []string{restoringDir, oldDir} {
		if _, err := os.Lstat(filepath.Join(folder, gone)); err == nil {
			t.Errorf("%s is left", gone)
		}
	}
}

// A backup's parts are checked against its manifest: a changed byte is a
// damaged backup, said in one line.
func TestVerifyFindsADamagedPart(t *testing.T) {
	root := t.TempDir()
	name := NewName(time.Date(2026, 12, 6, 10, 15, 0, 0, time.UTC), "manual")
	dir := filepath.Join(root, Dir, name)
	os.MkdirAll(dir, 0o700)
	db := recorded(t, "notes.sqlite3")
	os.WriteFile(filepath.Join(dir, "2-backend-db-sqlite3.sqlite3"), db, 0o600)
	m := Manifest{Format: FormatVersion, Name: name, Reason: "manual", Version: "1.0.0", Parts: []Part{
		{File: "2-backend-db-sqlite3.sqlite3", Service: "backend", Kind: "sqlite", Path: "/app/data/db.sqlite3", Source: "backend/.data/db.sqlite3", Format: FormatSQLite},
		{Service: "backend", Kind: "sqlite", Path: "/app/data/other.sqlite3", Source: "backend/.data/other.sqlite3", Format: FormatAbsent},
	}}
	if err := finish(&m.Parts[0], filepath.Join(dir, m.Parts[0].File)); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(dir, ManifestFile), data, 0o600)
	read, err := ReadManifest(root, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(root, read); err != nil {
		t.Fatalf("a whole backup: %v", err)
	}
	db[5000] ^= 0xff
	os.WriteFile(filepath.Join(dir, m.Parts[0].File), db, 0o600)
	err = Verify(root, read)
	if err == nil || !strings.HasPrefix(err.Error(), "backup "+name+" is damaged: its part 2-backend-db-sqlite3.sqlite3 (backend's /app/data/db.sqlite3) does not match its manifest") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
	// A manifest that points out of the backup, or was moved, is refused.
	for _, bad := range []func(*Manifest){
		func(m *Manifest) { m.Parts[0].File = "../../etc/passwd" },
		func(m *Manifest) { m.Parts[0].Source = "../outside" },
		func(m *Manifest) { m.Name = "20200101-000000-other" },
		func(m *Manifest) { m.Format = FormatVersion + 1 },
	} {
		c := m
		c.Parts = append([]Part{}, m.Parts...)
		bad(&c)
		data, _ := json.Marshal(c)
		os.WriteFile(filepath.Join(dir, ManifestFile), data, 0o600)
		if _, err := ReadManifest(root, name); err == nil {
			t.Errorf("manifest %+v accepted", c)
		}
	}
}

// A backup being written (a hidden folder) is never listed, nor is one
// whose name is not a backup's; Latest is the newest.
func TestListShowsCompleteBackupsOnly(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"20261206-100000-manual", "20261206-110000-before-1.2.0", ".partial-20261206-120000-manual", "notes"} {
		dir := filepath.Join(root, Dir, name)
		os.MkdirAll(dir, 0o700)
		data, _ := json.Marshal(Manifest{Format: FormatVersion, Name: name})
		os.WriteFile(filepath.Join(dir, ManifestFile), data, 0o600)
	}
	backups, broken, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range backups {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "20261206-100000-manual,20261206-110000-before-1.2.0" || len(broken) != 1 || broken["notes"] == nil {
		t.Errorf("listed %v, broken %v", names, broken)
	}
	if m, err := Latest(root); err != nil || m.Name != "20261206-110000-before-1.2.0" {
		t.Errorf("latest %v %v", m.Name, err)
	}
	if _, err := Latest(t.TempDir()); err == nil || !strings.Contains(err.Error(), "./dtx prod:backup") {
		t.Errorf("no backup: %v", err)
	}
}

// The backups folder is not followed through a link out of the project.
func TestBackupsFolderLinkRefused(t *testing.T) {
	root := t.TempDir()
	os.Symlink(t.TempDir(), filepath.Join(root, ".dtx"))
	if _, err := backupsDir(root, true); err == nil || !strings.Contains(err.Error(), ".dtx is a symbolic link") {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := List(root); err == nil {
		t.Fatal("listed through a link")
	}
}

func TestNames(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 15, 0, 0, time.FixedZone("CET", 3600))
	for reason, want := range map[string]string{
		"manual":                 "20261206-091500-manual",
		"before 1.2.0":           "20261206-091500-before-1.2.0",
		"Before/../../etc":       "20261206-091500-before-..-..-etc",
		"":                       "20261206-091500-manual",
		strings.Repeat("x", 100): "20261206-091500-" + strings.Repeat("x", 40),
	} {
		got := NewName(at, reason)
		if got != want || CheckName(got) != nil {
			t.Errorf("NewName(%q) = %q (%v), want %q", reason, got, CheckName(got), want)
		}
	}
	for _, bad := range []string{"../20261206-091500-manual", "20261206-091500-manual/x", "latest", "", ".partial-20261206-091500-manual"} {
		if CheckName(bad) == nil {
			t.Errorf("CheckName(%q) passes", bad)
		}
	}
}

func TestParseDestination(t *testing.T) {
	root := "/srv/site"
	for v, want := range map[string]string{
		"/mnt/backups":                   "/mnt/backups",
		"/mnt/backups/":                  "/mnt/backups",
		"ssh://backup.example.com/srv/b": "ssh://backup.example.com/srv/b",
		"ssh://me@10.0.0.2:2222/srv/b":   "ssh://me@10.0.0.2:2222/srv/b",
	} {
		d, err := ParseDestination(v, root)
		if err != nil || d.String() != want {
			t.Errorf("%s: %v %v, want %s", v, d, err, want)
		}
	}
	for v, want := range map[string]string{
		"backups":                          "use an absolute folder",
		"/srv/site/.dtx/backups/copies":    "it is inside .dtx/backups",
		"/srv/site/.dtx/backups":           "it is inside .dtx/backups",
		"s3://bucket/x":                    "use an absolute folder, or ssh://",
		"ssh://host":                       "use ssh://[USER@]HOST[:PORT]/ABSOLUTE/FOLDER",
		"ssh://host/srv/b;rm -rf ~":        "the remote folder",
		"ssh://host/srv/$(id)":             "the remote folder",
		"ssh://host/srv/../etc":            "the remote folder",
		"ssh://-oProxyCommand=x/srv/b":     "is not a host name",
		"ssh://me:hunter2@host/srv/b":      "it holds a password",
		"ssh://host:99999/srv/b":           "the port",
		"ssh://host/srv/b?x=1":             "without ? or #",
		"ssh://m%20e@host/srv/b":           "the user",
		"ssh://host/srv/b with spaces":     "the remote folder",
		"ssh://host/":                      "the remote folder",
		"ssh://host/srv/b'$(reboot)'":      "the remote folder",
		"ssh://host/srv/b\nnext":           "",
		"ssh://[::1]/srv/b":                "is not a host name",
		"ssh://host/srv/b#x":               "without ? or #",
		"ssh://host/srv/b\x00":             "",
		"ssh://host/srv/b`reboot`":         "the remote folder",
		"ssh://host/srv/b&&reboot":         "the remote folder",
		"ssh://host/srv/b|reboot":          "the remote folder",
		"ssh://host/srv/b>x":               "the remote folder",
		"ssh://host/srv/\\b":               "the remote folder",
		"ssh://host/srv/\"b\"":             "the remote folder",
		"ssh://host/srv/b*":                "the remote folder",
		"ssh://host/srv/~b":                "the remote folder",
		"ssh://host/srv/b!":                "the remote folder",
		"ssh://host/srv/{a,b}":             "the remote folder",
		"ssh://host/srv/b=1":               "the remote folder",
		"ssh://host/srv/(b)":               "the remote folder",
		"ssh://host/srv/b%0Areboot":        "the remote folder",
		"ssh://host/srv/b:c":               "the remote folder",
		"ssh://host/srv/b,c":               "the remote folder",
		"ssh://host/srv/b@c":               "the remote folder",
		"ssh://host/srv/b[1]":              "the remote folder",
		"ssh://user;reboot@host/srv/b":     "the user",
		"ssh://host;reboot/srv/b":          "",
		"ssh://host%3Breboot/srv/b":        "",
		"ssh://ho%20st/srv/b":              "",
		"ssh://host:22:33/srv/b":           "",
		"ssh://host:-1/srv/b":              "",
		"ssh://host:abc/srv/b":             "",
		"ssh://host/srv/b/../../../../../": "",
	} {
		_, err := ParseDestination(v, root)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: err = %v, want %q", v, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error shows the password: %v", v, err)
		}
	}
}

// Fingerprints tell the data written in between, by part.
func TestChanged(t *testing.T) {
	before := Fingerprint{"redis:/data": "redis:saved-1+5", "backend:/app/data/db.sqlite3": "sqlite:aa"}
	same := Fingerprint{"redis:/data": "redis:saved-1+5", "backend:/app/data/db.sqlite3": "sqlite:aa"}
	if got := Changed(before, same); len(got) != 0 {
		t.Errorf("no write: %v", got)
	}
	after := Fingerprint{"redis:/data": "redis:saved-1+6", "backend:/app/data/db.sqlite3": "sqlite:aa", "cache:/var/cache": "files:x"}
	if got := strings.Join(Changed(before, after), ", "); got != "cache's /var/cache, redis's /data" {
		t.Errorf("changed %s", got)
	}
}

// The SQLite fingerprint is of the data SQLite reads, recorded from
// SQLite 3.40 (testdata/wal*): wal-before is a database of 3 rows after
// its last connection closed; wal.sqlite3 with its -wal is the same file
// while a connection is open after two commits (one row; 40 rows that add
// 4 pages, and an update), the log not yet checkpointed; wal-checkpointed
// is the file once that connection closed (SQLite checkpointed the log and
// removed it). A checkpoint changes nothing in the fingerprint, a commit
// does; frames not committed or torn, and the index (-shm), count for
// nothing; a rollback journal counts.
func TestSQLiteFingerprint(t *testing.T) {
	dir := t.TempDir()
	fingerprint := func(files map[string]string) string {
		t.Helper()
		db := filepath.Join(dir, "db.sqlite3")
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(db + suffix)
			if data, ok := files[suffix]; ok {
				os.WriteFile(db+suffix, []byte(data), 0o600)
			}
		}
		fp, err := sqliteFingerprint(db)
		if err != nil {
			t.Fatal(err)
		}
		return fp
	}
	rec := func(name string) string { return string(recorded(t, name)) }
	before := fingerprint(map[string]string{"": rec("wal-before.sqlite3")})
	logged := fingerprint(map[string]string{"": rec("wal.sqlite3"), "-wal": rec("wal.sqlite3-wal")})
	checkpointed := fingerprint(map[string]string{"": rec("wal-checkpointed.sqlite3")})
	if logged != checkpointed {
		t.Errorf("a checkpoint changed the fingerprint: %s with the log, %s after", logged, checkpointed)
	}
	if logged == before {
		t.Errorf("two commits in the log changed nothing: %s", logged)
	}
	if fp := fingerprint(map[string]string{"": rec("wal.sqlite3")}); fp != before {
		t.Errorf("without its log the file is the data before both commits: %s, want %s", fp, before)
	}
	if fp := fingerprint(map[string]string{"": rec("wal-checkpointed.sqlite3"), "-shm": "index"}); fp != checkpointed {
		t.Errorf("the index (-shm) changed the fingerprint")
	}

	// The last frame is the second commit's: torn (cut short) or damaged
	// (its checksum fails), that transaction never happened for SQLite,
	// the first one did.
	log := rec("wal.sqlite3-wal")
	torn := fingerprint(map[string]string{"": rec("wal.sqlite3"), "-wal": log[:len(log)-100]})
	damaged := []byte(log)
	damaged[len(damaged)-10] ^= 0xff
	if torn == before || torn == checkpointed {
		t.Errorf("a torn last commit: %s, want the first commit's data", torn)
	}
	if fp := fingerprint(map[string]string{"": rec("wal.sqlite3"), "-wal": string(damaged)}); fp != torn {
		t.Errorf("a damaged last frame: %s, want %s as for a torn one", fp, torn)
	}
	if fp := fingerprint(map[string]string{"": rec("wal.sqlite3"), "-wal": "not a log"}); fp != before {
		t.Errorf("a log that is none counted: %s", fp)
	}
	if fp := fingerprint(map[string]string{"": rec("wal-checkpointed.sqlite3"), "-journal": "a hot journal"}); fp == checkpointed {
		t.Errorf("a rollback journal did not count")
	}
	if fp := fingerprint(nil); fp != "sqlite:absent" {
		t.Errorf("no database: %s", fp)
	}
	if fp := fingerprint(map[string]string{"": "not a database"}); fp == before || !strings.HasPrefix(fp, "sqlite:") {
		t.Errorf("a file that is no database: %s", fp)
	}
}

// BACKUP_BEFORE_DEPLOY: auto backs up before a deploy that runs
// PRE_DEPLOY only; 1 always; 0 never.
func TestBeforeDeployPolicy(t *testing.T) {
	for _, c := range []struct {
		p         Policy
		preDeploy bool
		want      bool
	}{
		{WithPreDeploy, true, true}, {WithPreDeploy, false, false},
		{Always, true, true}, {Always, false, true},
		{Never, true, false}, {Never, false, false},
	} {
		if got := c.p.Wanted(c.preDeploy); got != c.want {
			t.Errorf("%s with PRE_DEPLOY %v: %v, want %v", c.p, c.preDeploy, got, c.want)
		}
	}
}
