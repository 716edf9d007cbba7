package deploy

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Outcomes of a deploy.
const (
	Deployed   = "deployed"    // every service runs the version
	Failed     = "failed"      // stopped before anything switched, or a new container never became healthy: the old version serves
	RolledBack = "rolled-back" // prod:rollback deployed this earlier version
)

// Record is one deploy, as the server keeps it.
type Record struct {
	Time     time.Time         `json:"time"`
	Version  string            `json:"version"`
	Previous string            `json:"previous,omitempty"` // what ran before
	Outcome  string            `json:"outcome"`
	Reason   string            `json:"reason,omitempty"`
	Digests  map[string]string `json:"digests,omitempty"` // image -> repo digest
	Duration string            `json:"duration,omitempty"`
}

// Append adds r to the history file at path (JSON, one record a line),
// making its folder if needed.
func Append(path string, r Record) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	data, _ := json.Marshal(r)
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Read returns the history at path, oldest first; none when there is no file.
func Read(path string) ([]Record, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var records []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: not a deploy record: %v", path, n, err)
		}
		records = append(records, r)
	}
	return records, sc.Err()
}

// Previous is the version to roll back to from current: the last version
// before current's latest deploy that was deployed successfully and is not
// current itself.
func Previous(records []Record, current string) (string, bool) {
	i := len(records) - 1
	for ; i >= 0; i-- { // skip to current's latest good deploy
		if records[i].Version == current && records[i].Outcome != Failed {
			break
		}
	}
	for i--; i >= 0; i-- {
		if r := records[i]; r.Outcome != Failed && r.Version != current {
			return r.Version, true
		}
	}
	return "", false
}

// RollbackTarget decides prod:rollback: current is the version the rolled
// services run (the last recorded deploy's when none runs), previous the
// last good one before it (see Previous); ok is false when there is none.
func RollbackTarget(records []Record, running []Container) (current, previous string, ok bool) {
	current = RunningVersion(running)
	if current == "" && len(records) > 0 {
		current = records[len(records)-1].Version
	}
	previous, ok = Previous(records, current)
	return current, previous, ok
}
