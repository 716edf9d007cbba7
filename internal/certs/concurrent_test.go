package certs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const rounds = 200

var base = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// roundTime is a time at which round r's certificate is the only valid one:
// each round starts after the previous certificate expired.
func roundTime(r int) time.Time {
	return base.Add(time.Duration(r) * (SelfSignedValidity + 2*time.Hour))
}

// Issue 8, finding 9: concurrent generators never leave a mismatched pair.
// Each round, eight goroutines (each with its own descriptor, so its own
// flock, as separate processes have) ensure a certificate at once: exactly
// one writes, and the pair on disk matches.
func TestConcurrentGeneratorsLeaveAMatchingPair(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ssl")
	names := []string{"localhost", "127.0.0.1"}
	matched := 0
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		writers := 0
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wrote, err := EnsureSelfSigned(dir, names, roundTime(r))
				if err != nil {
					t.Error(err)
				}
				if wrote {
					mu.Lock()
					writers++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if _, err := ReadPair(dir); err != nil {
			t.Errorf("round %d: %v", r, err)
		} else {
			matched++
		}
		if writers != 1 {
			t.Errorf("round %d: %d generators wrote, want 1", r, writers)
		}
	}
	t.Logf("%d/%d rounds left a matching pair", matched, rounds)
	if matched != rounds {
		t.Fatalf("%d/%d rounds left a matching pair", matched, rounds)
	}
}

// Across processes: three copies of the test binary generate into one
// folder for 200 rounds each, at alternating times, so they keep replacing
// each other's pair; after every call each reads the pair under the shared
// lock and checks that key and certificate match.
func TestConcurrentProcessesLeaveAMatchingPair(t *testing.T) {
	if dir := os.Getenv("DTX_CERTS_HELPER_DIR"); dir != "" {
		helper(dir)
		return
	}
	dir := filepath.Join(t.TempDir(), "ssl")
	var wg sync.WaitGroup
	outs := make([]string, 3)
	for p := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentProcessesLeaveAMatchingPair$")
			cmd.Env = append(os.Environ(), "DTX_CERTS_HELPER_DIR="+dir, "DTX_CERTS_HELPER_ID="+strconv.Itoa(p))
			out, err := cmd.CombinedOutput()
			outs[p] = string(out)
			if err != nil {
				outs[p] += err.Error()
			}
		}()
	}
	wg.Wait()
	for p, out := range outs {
		if !strings.Contains(out, fmt.Sprintf("matched %d/%d", rounds, rounds)) {
			t.Errorf("process %d:\n%s", p, out)
		}
	}
	if _, err := ReadPair(dir); err != nil {
		t.Fatal(err)
	}
}

func helper(dir string) {
	id, _ := strconv.Atoi(os.Getenv("DTX_CERTS_HELPER_ID"))
	names := []string{"localhost", "127.0.0.1"}
	matched := 0
	for r := 0; r < rounds; r++ {
		if _, err := EnsureSelfSigned(dir, names, roundTime((r+id)%2)); err != nil {
			fmt.Println(err)
			continue
		}
		if _, err := ReadPair(dir); err != nil {
			fmt.Printf("round %d: %v\n", r, err)
			continue
		}
		matched++
	}
	fmt.Printf("matched %d/%d\n", matched, rounds)
}
