package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/backup"
	"github.com/kettleofketchup/dtx_website/internal/loadtest"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// dataSummary is what the starter backend's /api/data says the data holds.
type dataSummary struct {
	Rows       int    `json:"rows"`
	Schema     int    `json:"schema"`
	RowsSHA256 string `json:"rows_sha256"`
	Keys       int    `json:"keys"`
	KeysSHA256 string `json:"keys_sha256"`
}

func (d dataSummary) String() string {
	return fmt.Sprintf("%d rows (schema %d, %.12s…), %d keys (%.12s…)", d.Rows, d.Schema, d.RowsSHA256, d.Keys, d.KeysSHA256)
}

// dataLoad is a steady stream through nginx of writes (POST /api/notes: a
// row in SQLite and a key in redis) and reads (GET /api/data), one every
// 50 ms, to 127.0.0.1 only, bounded in time; it counts each failure.
type dataLoad struct {
	client *http.Client
	base   string

	mu                      sync.Mutex
	writes, reads           int
	failedWrite, failedRead int
	examples                []string
	stop, done              chan struct{}
	// readOnly turns the writes into reads: a rollback with its data
	// restores without -force only when nothing was written since the
	// deploy ended.
	readOnly atomic.Bool
}

func startDataLoad(c *http.Client, base string) *dataLoad {
	l := &dataLoad{client: c, base: base, stop: make(chan struct{}), done: make(chan struct{})}
	deadline := time.Now().Add(15 * time.Minute)
	go func() {
		defer close(l.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; time.Now().Before(deadline); i++ {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			if i%2 == 0 && !l.readOnly.Load() {
				l.do(true, func() (*http.Response, error) {
					return l.client.Post(l.base+"/api/notes", "text/plain", strings.NewReader(fmt.Sprintf("note %d", i)))
				})
			} else {
				l.do(false, func() (*http.Response, error) { return l.client.Get(l.base + "/api/data") })
			}
		}
	}()
	return l
}

func (l *dataLoad) do(write bool, req func() (*http.Response, error)) {
	resp, err := req()
	failed := ""
	if err != nil {
		failed = err.Error()
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			failed = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if write {
		l.writes++
	} else {
		l.reads++
	}
	if failed == "" {
		return
	}
	if write {
		l.failedWrite++
	} else {
		l.failedRead++
	}
	if len(l.examples) < 5 {
		l.examples = append(l.examples, failed)
	}
}

// phase runs fn and returns what the load saw meanwhile.
func (l *dataLoad) phase(fn func()) (writes, reads, failedWrites, failedReads int, examples []string) {
	l.mu.Lock()
	l.writes, l.reads, l.failedWrite, l.failedRead, l.examples = 0, 0, 0, 0, nil
	l.mu.Unlock()
	fn()
	time.Sleep(500 * time.Millisecond)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes, l.reads, l.failedWrite, l.failedRead, l.examples
}

func (l *dataLoad) close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

// summary asks the backend through nginx what the data holds.
func summary(t *testing.T, c *http.Client, base string) dataSummary {
	t.Helper()
	var d dataSummary
	eventually(t, 2*time.Minute, "GET /api/data", func() error {
		resp, err := c.Get(base + "/api/data")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		return json.Unmarshal(body, &d)
	})
	return d
}

var backupTaken = regexp.MustCompile(`backup (\S+) taken in `)

// backedUp runs prod:backup and returns the backup's name.
func (s *site) backedUp(t *testing.T, extra []string) (string, string) {
	t.Helper()
	out := s.mustMage(extra, "prod:backup")
	m := backupTaken.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("prod:backup does not say which backup it took:\n%s", out)
	}
	return m[1], out
}

// frontendTooSlow is how a deploy fails when the starter frontend's
// health check (node, 3 s at most) runs out of time on an overloaded
// machine: nothing this suite tests.
var frontendTooSlow = regexp.MustCompile(`frontend-[0-9]+ is unhealthy|frontend \S+ was not healthy within`)

// deployed runs prod:deploy to version and returns its output; a deploy
// that failed only because the frontend's health check ran out of time
// (load) is run again, at most twice, and said.
func (s *site) deployed(t *testing.T, extra []string, version string) string {
	t.Helper()
	var all strings.Builder
	for attempt := 1; ; attempt++ {
		out, err := s.mage(extra, "prod:deploy", "-version="+version)
		all.WriteString(out)
		if err == nil {
			return all.String()
		}
		if attempt == 3 || !frontendTooSlow.MatchString(out) {
			t.Fatalf("prod:deploy -version=%s: %v\n%s", version, err, out)
		}
		t.Logf("prod:deploy -version=%s failed on the frontend's health check, load average %s: deploying again", version, loadAverage())
	}
}

// manifestOf reads a backup's manifest as the test sees it.
type testPart struct {
	File, Service, Kind, Path, Source, Format, SHA256, Method string
	Size                                                      int64
}

func manifestOf(t *testing.T, root, name string) (version string, parts []testPart) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, ".dtx/backups", name, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Version string
		Parts   []testPart
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m.Version, m.Parts
}

// backupSummary reads what a backup holds, apart from the tool: its redis
// RDB loaded by a redis of its own, its SQLite file read by the backend's
// own code (server.data_summary), in two throwaway containers that share
// one network namespace and nothing else.
func (s *site) backupSummary(t *testing.T, name, version string) dataSummary {
	t.Helper()
	_, parts := manifestOf(t, s.root, name)
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	for _, p := range parts {
		var to string
		switch p.Format {
		case "rdb":
			to = "dump.rdb"
		case "sqlite":
			to = "db.sqlite3"
		default:
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.root, ".dtx/backups", name, p.File))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), data, 0o666); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, to), 0o666)
	}
	redisImage := s.vars["REDIS_IMAGE"]
	if redisImage == "" {
		redisImage = "redis:8.2.1-alpine"
	}
	redis := s.prefix + "-backup-check"
	exec.Command("docker", "rm", "-f", redis).Run()
	docker(t, "run", "-d", "--name", redis, "--network", "none", "--user", "0:0", "-v", dir+":/data", redisImage,
		"redis-server", "--dir", "/data", "--dbfilename", "dump.rdb", "--appendonly", "no", "--save", "", "--protected-mode", "no")
	defer exec.Command("docker", "rm", "-f", redis).Run()
	eventually(t, time.Minute, "the checking redis answers", func() error {
		out, err := exec.Command("docker", "exec", redis, "redis-cli", "ping").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PONG") {
			return fmt.Errorf("%v %s", err, out)
		}
		return nil
	})
	out := docker(t, "run", "--rm", "--network", "container:"+redis, "-v", dir+":/b", "-e", "DB_PATH=/b/db.sqlite3", "-e", "REDIS_ADDR=127.0.0.1:6379",
		"--entrypoint", "python3", s.vars["REGISTRY"]+"/backend:"+version, "-c",
		"import json, sys; sys.path.insert(0, '/opt/backend'); import server; print(json.dumps(server.data_summary()))")
	var d dataSummary
	if err := json.Unmarshal([]byte(out[strings.LastIndex(out, "\n")+1:]), &d); err != nil {
		t.Fatalf("the backup's summary: %v: %s", err, out)
	}
	return d
}

// listed are the backups prod:backups lists.
func (s *site) listed(t *testing.T, extra []string) []string {
	t.Helper()
	out := s.mustMage(extra, "prod:backups")
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && regexp.MustCompile(`^[0-9]{8}-[0-9]{6}-`).MatchString(f[0]) {
			names = append(names, f[0])
		}
	}
	return names
}

// TestBackupRestore takes the release stack's data under a steady load of
// writes and reads through nginx (the starter backend keeps notes in an
// SQLite file and in redis): a backup with no failed request; more
// writes; a deploy whose PRE_DEPLOY migrates the SQLite schema; then the
// data brought back, exactly the backup's (row and key counts and
// checksums, read from the backup apart from the tool); a damaged backup
// refused with nothing touched; a backup killed midway never listed; and
// a copy in BACKUP_TO that a restore takes when the backup is gone here.
func TestBackupRestore(t *testing.T) {
	s := newSite(t)
	httpPort, httpsPort := freePort(t), freePort(t)
	base := []string{"HTTP_PORT=" + httpPort, "HTTPS_PORT=" + httpsPort,
		"BACKEND_RATE_LIMIT=10000r/s", "BACKEND_RATE_BURST=10000", "BACKEND_CONN_LIMIT=10000"}
	v1, v2 := "1.0.0", "1.1.0"
	s.build(t, "one", v1, true)
	s.build(t, "two", v2, true)
	s.deployed(t, base, v1)

	c, err := loadtest.Client(filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"), "dtx.test", httpsPort)
	if err != nil {
		t.Fatal(err)
	}
	site := "https://dtx.test"
	l := startDataLoad(c, site)
	defer l.close()
	time.Sleep(3 * time.Second) // some data first

	// The backup, under load: not one request fails.
	var name, out string
	writes, reads, failedW, failedR, examples := l.phase(func() { name, out = s.backedUp(t, base) })
	t.Logf("backup: %d writes, %d reads, %d and %d failed\n%s", writes, reads, failedW, failedR, out)
	if failedW+failedR > 0 || reads < 5 || writes < 5 {
		t.Errorf("during the backup %d of %d writes and %d of %d reads failed (want none, and some of each): %v\n%s", failedW, writes, failedR, reads, examples, out)
	}
	version, parts := manifestOf(t, s.root, name)
	if version != v1 {
		t.Errorf("backup %s says version %q ran, want %s", name, version, v1)
	}
	kinds := map[string]string{}
	for _, p := range parts {
		kinds[p.Service+" "+p.Kind] = p.Format
		info, err := os.Stat(filepath.Join(s.root, ".dtx/backups", name, p.File))
		if p.Format != "absent" && (err != nil || info.Mode().Perm() != 0o600 || info.Size() != p.Size) {
			t.Errorf("part %s: %v, mode %v, size %d of %d", p.File, err, info.Mode().Perm(), info.Size(), p.Size)
		}
	}
	if kinds["redis redis"] != "rdb" || kinds["backend sqlite"] != "sqlite" || kinds[" files"] != "tar" {
		t.Errorf("backup %s holds %v: want redis's RDB, the backend's SQLite file and the tool's files", name, kinds)
	}
	if info, err := os.Stat(filepath.Join(s.root, ".dtx/backups", name)); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("backup folder: %v %v", err, info.Mode().Perm())
	}
	if ignored := exec.Command("git", "-C", s.ts.Repo, "check-ignore", "-q", "--no-index", ".dtx/backups/"+name+"/manifest.json").Run(); ignored != nil {
		t.Errorf("git does not ignore the backups: %v", ignored)
	}
	want := s.backupSummary(t, name, v1)
	t.Logf("backup %s holds %s", name, want)
	if want.Rows < 3 || want.Keys < 3 || want.Schema != 1 {
		t.Fatalf("backup %s holds %s: the load wrote nothing before it?", name, want)
	}

	// More writes, then a deploy whose pre-deploy command migrates the
	// SQLite schema, under a load of reads: no write after the deploy's
	// end, so that its rollback with the data needs no -force.
	time.Sleep(3 * time.Second)
	l.readOnly.Store(true)
	migrate := []string{"PRE_DEPLOY=python3 /opt/backend/server.py --migrate"}
	writes, reads, failedW, failedR, examples = l.phase(func() {
		out = s.deployed(t, append(append([]string{}, base...), migrate...), v2)
	})
	t.Logf("deploy: %d writes, %d reads, %d and %d failed", writes, reads, failedW, failedR)
	if failedW+failedR > 0 || reads < 5 {
		t.Errorf("during the deploy %d of %d writes and %d of %d reads failed: %v\n%s", failedW, writes, failedR, reads, examples, out)
	}
	if !strings.Contains(out, "at schema 2 (was 1)") {
		t.Errorf("the migration did not run:\n%s", out)
	}
	deployOut := out
	l.close()
	before := summary(t, c, site)
	if before.Schema != 2 || before.Rows <= want.Rows {
		t.Fatalf("after the migration the data holds %s, want schema 2 and more rows than the backup's %d", before, want.Rows)
	}

	// A backup of another version is refused, with nothing touched.
	ids := containers(t, s.prefix+"-release", false)
	out, err = s.mage(base, "prod:restore", "-name="+name)
	if err == nil || !strings.Contains(out, "backup "+name+" was taken with version 1.0.0, and 1.1.0 runs") || !strings.Contains(out, "-force") {
		t.Errorf("restoring v1's backup while v2 runs: %v\n%s", err, out)
	}
	if after := summary(t, c, site); after != before || strings.Join(containers(t, s.prefix+"-release", false), ",") != strings.Join(ids, ",") {
		t.Errorf("a refused restore touched something: %s, was %s", after, before)
	}

	// The deploy took a backup before its pre-deploy command, recorded
	// it, and prod:status names the last one.
	taken := backupTaken.FindStringSubmatch(deployOut)
	if taken == nil || !strings.Contains(taken[1], "before-"+v2) {
		t.Fatalf("prod:deploy took no backup before PRE_DEPLOY:\n%s", deployOut)
	}
	deployBackup := taken[1]
	if i, j := strings.Index(deployOut, "backup "+deployBackup+" taken"), strings.Index(deployOut, "step pre-deploy:"); i < 0 || j < 0 || i > j {
		t.Errorf("the deploy's backup was not taken before the pre-deploy command:\n%s", deployOut)
	}
	history, _ := os.ReadFile(filepath.Join(s.root, ".dtx/deploys.jsonl"))
	if !strings.Contains(string(history), `"backup":"`+deployBackup+`"`) {
		t.Errorf("the deploy record does not name backup %s:\n%s", deployBackup, history)
	}
	if status := s.mustMage(base, "prod:status"); !strings.Contains(status, "last backup: "+deployBackup) {
		t.Errorf("prod:status does not show the last backup %s:\n%s", deployBackup, status)
	}
	beforeDeploy := s.backupSummary(t, deployBackup, v1)
	if beforeDeploy.Schema != 1 || beforeDeploy.Rows <= want.Rows {
		t.Errorf("the deploy's backup holds %s: want schema 1 and the writes since backup %s (%d rows)", beforeDeploy, name, want.Rows)
	}

	// prod:rollback -data: the code and the data as they were before the
	// deploy, its migration undone; nothing was written since the deploy
	// ended, so no -force is needed.
	out = s.mustMage(base, "prod:rollback", "-data")
	t.Logf("rollback -data:\n%s", out)
	if !strings.Contains(out, "restored backup "+deployBackup) || !strings.Contains(out, "running and healthy again") {
		t.Errorf("the rollback does not say it restored %s:\n%s", deployBackup, out)
	}
	if got := summary(t, c, site); got != beforeDeploy {
		t.Errorf("after prod:rollback -data the data holds %s, want the deploy's backup's %s", got, beforeDeploy)
	}

	// prod:restore puts back the first backup, by name.
	out = s.mustMage(base, "prod:restore", "-name="+name)
	t.Logf("restore:\n%s", out)
	if !strings.Contains(out, "restored backup "+name) || !strings.Contains(out, "running and healthy again") {
		t.Errorf("the restore does not say what it did:\n%s", out)
	}
	if got := summary(t, c, site); got != want {
		t.Errorf("after the restore the data holds %s, want the backup's %s", got, want)
	}

	// A damaged backup is refused in one line, nothing touched.
	for _, p := range parts {
		if p.Format == "sqlite" {
			path := filepath.Join(s.root, ".dtx/backups", name, p.File)
			data, _ := os.ReadFile(path)
			data[len(data)/2] ^= 0xff
			os.WriteFile(path, data, 0o600)
		}
	}
	ids = containers(t, s.prefix+"-release", false)
	out, err = s.mage(base, "prod:restore", "-name="+name)
	if err == nil || !strings.Contains(out, "backup "+name+" is damaged") || !strings.Contains(out, "nothing was touched") {
		t.Errorf("a damaged backup: %v\n%s", err, out)
	}
	if lines := errorLines(out); len(lines) != 1 {
		t.Errorf("the refusal is not one line: %q", lines)
	}
	if got := summary(t, c, site); got != want || strings.Join(containers(t, s.prefix+"-release", false), ",") != strings.Join(ids, ",") {
		t.Errorf("a refused restore touched something: %s, want %s", got, want)
	}

	// A backup killed midway (kill -9) leaves nothing listed; the next
	// one removes what it left.
	listedBefore := s.listed(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := s.mageCmd(ctx, base, "prod:backup")
	var killedOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &killedOut, &killedOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline) && !killed; time.Sleep(5 * time.Millisecond) {
		// Killed once it has written a part into its hidden folder.
		if parts, _ := filepath.Glob(filepath.Join(s.root, ".dtx/backups/.partial-*/*")); len(parts) > 0 {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("prod:backup never started writing a backup:\n%s", killedOut.String())
	}
	t.Logf("prod:backup killed midway:\n%s", killedOut.String())
	if after := s.listed(t, base); strings.Join(after, ",") != strings.Join(listedBefore, ",") {
		t.Errorf("after a backup killed midway prod:backups lists %v, was %v", after, listedBefore)
	}

	// The next backup, with a copy to BACKUP_TO, removes the leftover.
	offsite := filepath.Join(t.TempDir(), "offsite")
	withCopy := append(append([]string{}, base...), "BACKUP_TO="+offsite)
	second, out := s.backedUp(t, withCopy)
	if partials, _ := filepath.Glob(filepath.Join(s.root, ".dtx/backups/.partial-*")); len(partials) > 0 {
		t.Errorf("the killed backup's leftovers are still there: %v", partials)
	}
	if !strings.Contains(out, "copied "+second+" to BACKUP_TO="+offsite) {
		t.Errorf("no copy said:\n%s", out)
	}
	wantSecond := summary(t, c, site)
	// The copy is the backup, file for file; gone here, a restore takes it
	// from there.
	sameTree(t, filepath.Join(s.root, ".dtx/backups", second), filepath.Join(offsite, second))
	m, err := backup.ReadManifest(s.root, second)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(s.root, ".dtx/backups", second)); err != nil {
		t.Fatal(err)
	}
	// What a rollback with -data asks: writes since the backup? The
	// fingerprint in its manifest, against the data now (the API the
	// deploy calls). The SQLite file is as the backup found it; then one
	// write shows in both.
	st, err := session.New(session.Config{Root: s.root, Environ: s.ts.Environ(base...)}).Open("release")
	if err != nil {
		t.Fatal(err)
	}
	changed, err := backup.WritesSince(context.Background(), st, m.Fingerprint())
	if err != nil || slices.Contains(changed, "backend's /app/data/db.sqlite3") {
		t.Errorf("with no write since the backup, WritesSince says %v (%v)", changed, err)
	}
	post, err := c.Post(site+"/api/notes", "text/plain", strings.NewReader("after the second backup"))
	if err != nil || post.StatusCode != 201 {
		t.Fatalf("a write after the second backup: %v %v", err, post)
	}
	post.Body.Close()
	changed, err = backup.WritesSince(context.Background(), st, m.Fingerprint())
	if err != nil || !slices.Contains(changed, "backend's /app/data/db.sqlite3") || !slices.Contains(changed, "redis's /data") {
		t.Errorf("after a write, WritesSince says %v (%v), want both the SQLite file and redis", changed, err)
	}
	out = s.mustMage(withCopy, "prod:restore", "-name="+second)
	if !strings.Contains(out, "fetched "+second+" from BACKUP_TO") {
		t.Errorf("the restore did not say it fetched the copy:\n%s", out)
	}
	if got := summary(t, c, site); got != wantSecond {
		t.Errorf("after restoring the copy the data holds %s, want %s", got, wantSecond)
	}

	// BACKUP_TO over ssh (an sshd of the test's own on 127.0.0.1, reached
	// through an ssh that uses the test's key and known host): the copy
	// lands there whole, and a restore fetches it back.
	h := startSSHD(t)
	remote := filepath.Join(t.TempDir(), "remote")
	overSSH := append(append([]string{}, base...), "BACKUP_TO="+h.url+remote, "PATH="+h.path)
	third, out := s.backedUp(t, overSSH)
	if !strings.Contains(out, "copied "+third+" to BACKUP_TO="+h.url+remote) {
		t.Errorf("no copy over ssh said:\n%s", out)
	}
	sameTree(t, filepath.Join(s.root, ".dtx/backups", third), filepath.Join(remote, third))
	if err := os.RemoveAll(filepath.Join(s.root, ".dtx/backups", third)); err != nil {
		t.Fatal(err)
	}
	out = s.mustMage(overSSH, "prod:restore", "-name="+third)
	if !strings.Contains(out, "fetched "+third+" from BACKUP_TO") || !strings.Contains(out, "restored backup "+third) {
		t.Errorf("the restore over ssh:\n%s", out)
	}
	if got := summary(t, c, site); got != wantSecond {
		t.Errorf("after restoring the copy over ssh the data holds %s, want %s", got, wantSecond)
	}

	// Data written after a deploy ended: prod:rollback -data refuses, in
	// one line naming what it would lose, and touches nothing.
	s.deployed(t, base, v2)
	post, err = c.Post(site+"/api/notes", "text/plain", strings.NewReader("after the last deploy"))
	if err != nil || post.StatusCode != 201 {
		t.Fatalf("a write after the last deploy: %v %v", err, post)
	}
	post.Body.Close()
	before = summary(t, c, site)
	ids = containers(t, s.prefix+"-release", false)
	out, err = s.mage(base, "prod:rollback", "-data")
	if err == nil || !strings.Contains(out, "data was written since "+v2+" was deployed") || !strings.Contains(out, "-force") {
		t.Errorf("prod:rollback -data after a write: %v\n%s", err, out)
	}
	if lines := errorLines(out); len(lines) != 1 {
		t.Errorf("the refusal is not one line: %q", lines)
	}
	if got := summary(t, c, site); got != before || strings.Join(containers(t, s.prefix+"-release", false), ",") != strings.Join(ids, ",") {
		t.Errorf("a refused rollback touched something: %s, was %s", got, before)
	}
}

// TestBackupMeasure is the backups' benchmark (backup.Measure: backup and
// restore time against the data's size, and the pause a backup causes to
// writes) on the release stack, run on demand: DTX_BACKUP_MEASURE=1. It
// logs a Markdown table.
func TestBackupMeasure(t *testing.T) {
	if os.Getenv("DTX_BACKUP_MEASURE") == "" {
		t.Skip("the backups' benchmark runs on demand: DTX_BACKUP_MEASURE=1")
	}
	s := newSite(t)
	httpPort, httpsPort := freePort(t), freePort(t)
	base := []string{"HTTP_PORT=" + httpPort, "HTTPS_PORT=" + httpsPort,
		"BACKEND_RATE_LIMIT=10000r/s", "BACKEND_RATE_BURST=10000", "BACKEND_CONN_LIMIT=10000",
		// 100 MB of notes, each kept in redis too.
		"REDIS_MEMORY=1g", "BACKEND_MEMORY=1g"}
	s.build(t, "one", "1.0.0", true)
	s.deployed(t, base, "1.0.0")
	c, err := loadtest.Client(filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"), "dtx.test", httpsPort)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := backup.Measure(context.Background(), backup.MeasureConfig{
		Sizes: []int64{1e6, 100e6}, Methods: []string{backup.SQLiteOnline, backup.SQLitePause}, Client: c, Base: "https://dtx.test",
		Dtx: func(ctx context.Context, env []string, args ...string) (string, error) {
			return s.mage(append(append([]string{}, base...), env...), args...)
		},
	})
	t.Logf("load average %s\n%s", loadAverage(), backup.Table(ms))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Err != "" {
			t.Errorf("%d notes, %s: %s", m.Rows, m.Method, m.Err)
		}
	}
}

func loadAverage() string {
	data, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// sameTree checks that two backups' folders hold the same files, 0600,
// in a 0700 folder.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	entries, err := os.ReadDir(a)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(b); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, mode %v", b, err, info.Mode().Perm())
	}
	for _, e := range entries {
		x, _ := os.ReadFile(filepath.Join(a, e.Name()))
		y, err := os.ReadFile(filepath.Join(b, e.Name()))
		info, _ := os.Stat(filepath.Join(b, e.Name()))
		if err != nil || !bytes.Equal(x, y) || info.Mode().Perm() != fs.FileMode(0o600) {
			t.Errorf("the copy's %s differs from the backup's (%v)", e.Name(), err)
		}
	}
}

// errorLines are mage's error lines in a target's output: "Error: …".
func errorLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "Error: ") {
			lines = append(lines, l)
		}
	}
	return lines
}
