package backup

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Redis's data is taken through redis itself: `redis-cli --rdb -` asks the
// server for a full synchronisation, as a replica would, and streams the
// point-in-time RDB that a forked child writes (the server goes on
// serving). With a diskless synchronisation (repl-diskless-sync, the
// default since redis 7.0) the stream ends with a 40-byte end mark that
// redis-cli cuts off a file but not off standard output; it says the RDB's
// length on standard error ("Transfer finished with success after N
// bytes"), and the tool keeps that many bytes, then checks the RDB's own
// CRC-64. Measured with redis 7.0.15 (the offline base); redis-cli's code
// is the same in 8.x.
//
// A restore puts the RDB where redis loads it at start. With appendonly
// yes (the stacks' setting), redis 7 and later load the append-only
// folder's manifest and ignore dump.rdb; with no manifest they start
// empty and make a new one, so a dump.rdb alone is lost (measured). The
// RDB becomes the folder's base file instead, with a manifest naming it
// ("file appendonly.aof.1.base.rdb seq 1 type b"), as an AOF rewrite
// leaves it; redis 4 to 6 load an RDB-preamble appendfilename. dump.rdb
// gets the same RDB, for a redis that runs without AOF.

// RedisConfig is what a restore needs of redis's persistence settings
// (CONFIG GET).
type RedisConfig struct {
	Dir            string `json:"dir"`
	AppendOnly     bool   `json:"appendonly"`
	AppendDirName  string `json:"appenddirname,omitempty"` // "" before redis 7
	AppendFilename string `json:"appendfilename"`
	DBFilename     string `json:"dbfilename"`
}

// redisConfigKeys are the settings CONFIG GET asks for.
var redisConfigKeys = []string{"dir", "appendonly", "appenddirname", "appendfilename", "dbfilename"}

// safeRedisName is a file name redis is configured with that the restore
// writes: no path, nothing a manifest line could not hold.
var safeRedisName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._-]+$`) })

// ParseRedisConfig reads redis-cli's answer to CONFIG GET: one line a key,
// then one its value.
func ParseRedisConfig(out string) (RedisConfig, error) {
	lines := strings.Split(strings.ReplaceAll(strings.TrimRight(out, "\r\n"), "\r\n", "\n"), "\n")
	values := map[string]string{}
	for i := 0; i+1 < len(lines); i += 2 {
		values[lines[i]] = lines[i+1]
	}
	c := RedisConfig{
		Dir:            values["dir"],
		AppendOnly:     values["appendonly"] == "yes",
		AppendDirName:  values["appenddirname"],
		AppendFilename: values["appendfilename"],
		DBFilename:     values["dbfilename"],
	}
	if c.Dir == "" || c.DBFilename == "" || (c.AppendOnly && c.AppendFilename == "") {
		return c, fmt.Errorf("redis-cli CONFIG GET answered no dir, dbfilename or appendfilename: %q", clip(out))
	}
	for _, name := range []string{c.AppendDirName, c.AppendFilename, c.DBFilename} {
		if name != "" && !safeRedisName().MatchString(name) {
			return c, fmt.Errorf("redis is configured with the file name %q, which a restore does not write: use letters, digits, '.', '_' and '-'", clip(name))
		}
	}
	return c, nil
}

// rdbLength reads the RDB's length from redis-cli --rdb's standard error;
// ok is false when it did not say (a disk-based transfer, whose stream
// has no end mark).
func rdbLength(stderr string) (n int64, ok bool) {
	m := regexp.MustCompile(`Transfer finished with success after ([0-9]+) bytes`).FindStringSubmatch(stderr)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	return n, err == nil
}

// rdbRedisFingerprint is redis's fingerprint from INFO persistence: the
// time of its last save and the writes since. Each write raises the count,
// which only a save (whose time then changes) resets: equal fingerprints
// mean no write in between.
func redisFingerprint(info string) (string, error) {
	values := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			values[k] = v
		}
	}
	last, changes := values["rdb_last_save_time"], values["rdb_changes_since_last_save"]
	if last == "" || changes == "" {
		return "", fmt.Errorf("redis-cli INFO persistence has no rdb_last_save_time or rdb_changes_since_last_save")
	}
	return "redis:saved-" + last + "+" + changes, nil
}

// crcTable is redis's CRC-64 (Jones polynomial, reflected, no final
// xor), made on first use.
var crcTable = sync.OnceValue(func() *[256]uint64 {
	const poly = 0x95ac9329ac4bc9b5 // 0xad93d23594c935a9, reflected
	var t [256]uint64
	for i := range t {
		crc := uint64(i)
		for range 8 {
			if crc&1 == 1 {
				crc = crc>>1 ^ poly
			} else {
				crc >>= 1
			}
		}
		t[i] = crc
	}
	return &t
})

// crc64Redis continues redis's CRC-64 crc over p.
func crc64Redis(crc uint64, p []byte) uint64 {
	table := crcTable()
	for _, b := range p {
		crc = table[byte(crc)^b] ^ crc>>8
	}
	return crc
}

// CheckRDB checks an RDB file: "REDIS" and a version, the end-of-file
// opcode, and its CRC-64 over everything before it (a redis that runs with
// rdbchecksum no writes zeros there, and only the rest is checked).
func CheckRDB(path string) error {
	f, err := openNoFollow(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, _ := f.Stat()
	size := fi.Size()
	if size < 9+1+8 {
		return fmt.Errorf("not an RDB (%d bytes)", size)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	head := make([]byte, 9)
	if _, err := io.ReadFull(r, head); err != nil {
		return err
	}
	if !bytes.HasPrefix(head, []byte("REDIS")) {
		return errors.New("not an RDB: it does not start with REDIS")
	}
	crc := crc64Redis(0, head)
	buf := make([]byte, 1<<20)
	left := size - 9 - 8
	var last byte
	for left > 0 {
		n, err := r.Read(buf[:min(int64(len(buf)), left)])
		if n > 0 {
			crc = crc64Redis(crc, buf[:n])
			last = buf[n-1]
			left -= int64(n)
		}
		if err != nil && left > 0 {
			return fmt.Errorf("reading the RDB: %w", err)
		}
	}
	tail := make([]byte, 8)
	if _, err := io.ReadFull(r, tail); err != nil {
		return err
	}
	if last != 0xff {
		return errors.New("the RDB is cut short: it does not end with the end-of-file opcode")
	}
	if want := binary.LittleEndian.Uint64(tail); want != 0 && want != crc {
		return fmt.Errorf("the RDB's CRC-64 is %016x, but it says %016x: it is damaged", crc, want)
	}
	return nil
}

// redisFiles writes, into dir, the files redis with cfg loads rdb from
// at start (see the package's note), and returns their names.
func redisFiles(dir, rdb string, cfg RedisConfig) ([]string, error) {
	names := []string{cfg.DBFilename}
	if err := copyFile(rdb, filepath.Join(dir, cfg.DBFilename), 0o600); err != nil {
		return nil, err
	}
	if !cfg.AppendOnly {
		return names, nil
	}
	if cfg.AppendDirName == "" {
		return append(names, cfg.AppendFilename), copyFile(rdb, filepath.Join(dir, cfg.AppendFilename), 0o600)
	}
	aof := filepath.Join(dir, cfg.AppendDirName)
	if err := os.Mkdir(aof, 0o755); err != nil {
		return nil, err
	}
	base := cfg.AppendFilename + ".1.base.rdb"
	if err := copyFile(rdb, filepath.Join(aof, base), 0o600); err != nil {
		return nil, err
	}
	manifest := fmt.Sprintf("file %s seq 1 type b\n", base)
	if err := os.WriteFile(filepath.Join(aof, cfg.AppendFilename+".manifest"), []byte(manifest), 0o600); err != nil {
		return nil, err
	}
	return append(names, cfg.AppendDirName), nil
}

// redisOwnFiles are the names in redis's folder that hold its data under
// cfg: what a restore replaces (the rest of the folder is left alone).
func redisOwnFiles(cfg RedisConfig) []string {
	names := []string{cfg.DBFilename, cfg.AppendFilename}
	if cfg.AppendDirName != "" {
		names = append(names, cfg.AppendDirName)
	}
	return names
}
