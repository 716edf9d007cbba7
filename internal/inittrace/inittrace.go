// Package inittrace reads the Go runtime's trace of package
// initialisation (GODEBUG=inittrace=1): what a program spends at start,
// before main, in every linked package's variables and init functions.
// The tool links one binary for every target, so this cost is paid by
// every call, whatever the target does; the benchmark reports it and
// internal/launcher's TestStartCost keeps it small.
package inittrace

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CostlyBytes is the allocation at which a package's initialisation counts
// as costly. Time is what matters, but on a shared machine it is noise;
// what a package allocates at start is the same on every run and every
// machine, and goes with the work it does (compiling regexps and schemas,
// building tables). 64 KiB: the standard library's packages and most
// others allocate under 30 KiB; a regexp with counted repetitions, or a
// schema, allocates more.
const CostlyBytes = 64 << 10

// Package is one package's initialisation.
type Package struct {
	Path          string
	Clock         time.Duration // wall time of its initialisation
	Bytes, Allocs int64
}

// Trace is the initialisation of one program, in the order it ran.
type Trace []Package

// Parse reads the trace of the last program in out: lines like
//
//	init github.com/x/y @1.2 ms, 5.5 ms clock, 1700496 bytes, 20 allocs
//
// among others (the program's own output, say). ./dtx runs the launcher,
// which execs the tool: both print a trace, and a package that shows up a
// second time (runtime's is in every program) starts the next program's.
// It fails when out holds no trace (GODEBUG did not reach the program).
func Parse(out string) (Trace, error) {
	var t Trace
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		p, ok := parseLine(line)
		if !ok {
			continue
		}
		if seen[p.Path] {
			t, seen = nil, map[string]bool{}
		}
		seen[p.Path] = true
		t = append(t, p)
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("no package initialisation trace in the output (is GODEBUG=inittrace=1 set?)")
	}
	return t, nil
}

// parseLine reads one trace line; ok is false for any other line.
func parseLine(line string) (p Package, ok bool) {
	f := strings.Fields(line)
	// 0:init 1:PATH 2:@T 3:ms, 4:C 5:ms 6:clock, 7:B 8:bytes, 9:A 10:allocs
	if len(f) != 11 || f[0] != "init" || !strings.HasPrefix(f[2], "@") || f[6] != "clock," || f[8] != "bytes," || f[10] != "allocs" {
		return Package{}, false
	}
	ms, err := strconv.ParseFloat(f[4], 64)
	if err != nil {
		return Package{}, false
	}
	bytes, err1 := strconv.ParseInt(f[7], 10, 64)
	allocs, err2 := strconv.ParseInt(f[9], 10, 64)
	if err1 != nil || err2 != nil {
		return Package{}, false
	}
	return Package{Path: f[1], Clock: time.Duration(ms * float64(time.Millisecond)), Bytes: bytes, Allocs: allocs}, true
}

// Clock is the time of every package's initialisation, summed.
func (t Trace) Clock() time.Duration {
	var d time.Duration
	for _, p := range t {
		d += p.Clock
	}
	return d
}

// Bytes is what every package's initialisation allocated, summed.
func (t Trace) Bytes() int64 {
	var n int64
	for _, p := range t {
		n += p.Bytes
	}
	return n
}

// Costly lists the packages whose initialisation allocated CostlyBytes or
// more, the costliest first.
func (t Trace) Costly() []Package {
	var c []Package
	for _, p := range t {
		if p.Bytes >= CostlyBytes {
			c = append(c, p)
		}
	}
	sort.SliceStable(c, func(i, j int) bool { return c[i].Bytes > c[j].Bytes })
	return c
}

// Slowest lists the n packages whose initialisation took longest, the
// slowest first.
func (t Trace) Slowest(n int) []Package {
	s := append([]Package(nil), t...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Clock > s[j].Clock })
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// Without is t without the package of the path given, and that package's
// own entry (zero when t has none).
func (t Trace) Without(path string) (rest Trace, p Package) {
	for _, q := range t {
		if q.Path == path {
			p = q
			continue
		}
		rest = append(rest, q)
	}
	return rest, p
}
