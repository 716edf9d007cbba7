package main

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	for _, c := range []struct {
		name    string
		samples []time.Duration
		want    time.Duration
	}{
		{"none", nil, 0},
		{"odd count, unsorted", ms(30, 10, 20), 20 * time.Millisecond},
		{"even count: the mean of the middle two", ms(40, 10, 30, 20), 25 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := median(c.samples); got != c.want {
				t.Fatalf("median %v, want %v", got, c.want)
			}
		})
	}
}

// The CI figure rests on reading which RUN steps came from a cache.
func TestRunSteps(t *testing.T) {
	progress := `#9 [nginx 2/5] COPY nginx.conf /etc/nginx/nginx.conf
#9 CACHED
#10 [nginx 5/5] RUN chmod 0755 /usr/local/bin/dtx-nginx
#10 pulling sha256:cac30f706a69 0.0s done
#10 CACHED
#14 [backend base 2/3] RUN pip install -r requirements.txt
#14 DONE 12.1s
`
	for _, c := range []struct {
		name     string
		progress string
		want     stepCount
	}{
		{"one RUN from the cache, one run", progress, stepCount{total: 2, cached: 1}},
		{"a cached COPY is no RUN", "#9 [nginx 2/5] COPY a b\n#9 CACHED\n", stepCount{}},
		{"no progress", "", stepCount{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := runSteps(c.progress); got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestParseRecords(t *testing.T) {
	out := `[{"ID":"abc*","InUse":"true"},{"ID":"def","InUse":"false"}]`
	got, err := parseRecords(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["abc"] || got["def"] {
		t.Fatalf("got %v", got)
	}
	if got, err := parseRecords("null\n"); err != nil || len(got) != 0 {
		t.Fatalf("no records: %v %v", got, err)
	}
}

func TestParseInitTrace(t *testing.T) {
	out := `init internal/bytealg @0.003 ms, 0 ms clock, 0 bytes, 0 allocs
init github.com/santhosh-tekuri/jsonschema/v6 @2.1 ms, 5.5 ms clock, 1700496 bytes, 20153 allocs
init github.com/distribution/reference @1.0 ms, 0.94 ms clock, 414456 bytes, 3000 allocs
Targets:
  check    runs the doctor
`
	c := parseInitTrace(out)
	if c.total != 6440*time.Microsecond {
		t.Errorf("total %v, want 6.44ms", c.total)
	}
	if len(c.top) != 3 || c.top[0].pkg != "github.com/santhosh-tekuri/jsonschema/v6" {
		t.Errorf("top %+v", c.top)
	}
}

func TestPairedRatio(t *testing.T) {
	ms := time.Millisecond
	r := results{samples: map[string][]time.Duration{
		// Pairs by round: 1.1, 1.1, 3.0, 1.1; their median is 1.1.
		"tool": {110 * ms, 220 * ms, 600 * ms, 330 * ms},
		"raw":  {100 * ms, 200 * ms, 200 * ms, 300 * ms},
	}}
	if got := r.pairedRatio("tool", "raw"); got < 1.099 || got > 1.101 {
		t.Errorf("paired ratio %.3f, want 1.10", got)
	}
	if got := r.pairedRatio("tool", "none"); got != 0 {
		t.Errorf("no pairs: %v", got)
	}
}
