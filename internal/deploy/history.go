package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/backup"
)

// Outcomes of a deploy.
const (
	// InProgress is written before a deploy changes anything; the
	// deploy's last record (same Time) closes it. One that nothing closes
	// is a deploy whose process ended before it did (kill -9, a reboot).
	InProgress = "in-progress"
	// Deployed: every service runs the version.
	Deployed = "deployed"
	// Failed: the deploy stopped before anything switched, or undid what
	// it started: the version before keeps serving.
	Failed = "failed"
	// RolledBack: prod:rollback deployed this earlier version.
	RolledBack = "rolled-back"
	// Interrupted closes an in-progress record whose process was gone
	// when the next deploy started; that deploy finished or undid it.
	Interrupted = "interrupted"
)

// Record is one line of the server's deploy history.
type Record struct {
	// Time is when the deploy started: its in-progress record and the
	// record that closes it share it.
	Time     time.Time         `json:"time"`
	Version  string            `json:"version"`
	Previous string            `json:"previous,omitempty"` // what ran before
	Outcome  string            `json:"outcome"`
	Reason   string            `json:"reason,omitempty"`  // masked before it is written
	Digests  map[string]string `json:"digests,omitempty"` // image -> repo digest
	Duration string            `json:"duration,omitempty"`
	// Command (prod:deploy, prod:rollback) and PID are the process of an
	// in-progress deploy.
	Command string `json:"command,omitempty"`
	PID     int    `json:"pid,omitempty"`
	// Backup is the backup taken before the deploy changed anything (in
	// .dtx/backups), and Data the data's fingerprint once it ended: what
	// prod:rollback -data puts back, and how it knows whether writes
	// happened since that the restore would lose.
	Backup string             `json:"backup,omitempty"`
	Data   backup.Fingerprint `json:"data,omitempty"`
}

// HistoryMode is the history file's mode: failure reasons and versions
// are the server's business only.
const HistoryMode = 0o600

// Append adds r to the history file at path as one JSON line, written
// with one write and synced, so that a line is whole or absent: a kill
// or a power cut cannot leave half a record followed by another. The
// file (and a folder it needs) is made readable by its owner only, and an
// older file is made so too. If the file ends in the middle of a line (a
// crash while it was written), the record starts on a line of its own.
func Append(path string, r Record) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, HistoryMode)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Chmod(HistoryMode); err != nil {
		return err
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line := append(data, '\n')
	if info, err := f.Stat(); err == nil && info.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, info.Size()-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(line); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// Damaged is a line of the history that is no record (cut short by a
// crash, edited by hand): it is skipped, and said.
type Damaged struct {
	Line int
	Err  error
}

func (d Damaged) Error() string {
	return fmt.Sprintf("line %d is not a deploy record (%v): skipped", d.Line, d.Err)
}

// Read returns the history at path, oldest first (none when there is no
// file), and the lines it skipped because they are no record.
func Read(path string) ([]Record, []Damaged, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var records []Record
	var damaged []Damaged
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Record
		err := json.Unmarshal(line, &r)
		if err == nil && (r.Version == "" || r.Outcome == "" || r.Time.IsZero()) {
			err = errors.New("no time, version or outcome")
		}
		if err != nil {
			damaged = append(damaged, Damaged{Line: i + 1, Err: err})
			continue
		}
		records = append(records, r)
	}
	return records, damaged, nil
}

// Unfinished are the in-progress records that no later record of the same
// deploy closes, oldest first.
func Unfinished(records []Record) []Record {
	var open []Record
	for i, r := range records {
		if r.Outcome != InProgress {
			continue
		}
		closed := slices.ContainsFunc(records[i+1:], func(later Record) bool {
			return later.Outcome != InProgress && later.Time.Equal(r.Time)
		})
		if !closed {
			open = append(open, r)
		}
	}
	return open
}

// Stack replays the history into the versions deployed in turn, the
// one deployed last on top: a deploy puts its version on top; a rollback
// to a version takes off what lies above it. Failed, interrupted and
// in-progress deploys change nothing.
func Stack(records []Record) []string {
	var stack []string
	for _, r := range records {
		switch r.Outcome {
		case Deployed:
			if len(stack) == 0 || stack[len(stack)-1] != r.Version {
				stack = append(stack, r.Version)
			}
		case RolledBack:
			if i := lastIndex(stack, r.Version); i >= 0 {
				stack = stack[:i+1]
			} else {
				stack = append(stack, r.Version)
			}
		}
	}
	return stack
}

// RollbackTarget decides prod:rollback: the version deployed before the
// one that runs, walking back through Stack and never forward (a
// second rollback goes further back). When what runs is no version of the
// history (a mix, nothing), current is the last one deployed. ok is false
// when there is no earlier version.
func RollbackTarget(records []Record, running string) (current, target string, ok bool) {
	stack := Stack(records)
	i := lastIndex(stack, running)
	current = running
	if i < 0 {
		if len(stack) == 0 {
			return current, "", false
		}
		i = len(stack) - 1
		if current == "" {
			current = stack[i]
		}
	}
	if i == 0 {
		return current, "", false
	}
	return current, stack[i-1], true
}

// lastIndex is the index of the last v in list, -1 when absent.
func lastIndex(list []string, v string) int {
	for i := len(list) - 1; i >= 0; i-- {
		if list[i] == v {
			return i
		}
	}
	return -1
}

// UndoneDeploy is the record of the deploy a rollback from current
// undoes: the last one that deployed current (a rollback that came back
// to current brought no data of its own: the data before current is
// what its first deploy backed up). ok is false when there is none.
func UndoneDeploy(records []Record, current string) (r Record, ok bool) {
	for i := len(records) - 1; i >= 0; i-- {
		if records[i].Outcome == Deployed && records[i].Version == current {
			return records[i], true
		}
	}
	return Record{}, false
}
