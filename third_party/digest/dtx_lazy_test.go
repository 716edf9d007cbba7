package digest

import (
	_ "crypto/sha256"
	_ "crypto/sha512"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func lazyRegexps() []*lazyRegexp {
	all := []*lazyRegexp{DigestRegexp, DigestRegexpAnchored}
	for _, l := range anchoredEncodedRegexps {
		all = append(all, l)
	}
	return all
}

// compiledAtStart is taken as the test binary starts, before any test
// (upstream's, copied beside these, compile them as they run).
var compiledAtStart = func() (out []string) {
	for _, l := range lazyRegexps() {
		if l.re != nil {
			out = append(out, l.expr)
		}
	}
	return out
}()

// Ours (dtx): nothing is compiled before its first use, the lazy
// expressions answer as the eager ones of upstream would, and concurrent
// first uses are safe (go test -race); Parse and Validate accept and
// refuse as upstream's do.
func TestLazyRegexps(t *testing.T) {
	if len(compiledAtStart) > 0 {
		t.Fatalf("compiled at start: %q", compiledAtStart)
	}
	all := lazyRegexps()
	hex64 := strings.Repeat("0123456789abcdef", 4)
	inputs := []string{"sha256:" + hex64, "sha384:" + hex64 + hex64[:32], "sha512:" + hex64 + hex64,
		hex64, "SHA256:" + hex64, "sha256:" + strings.ToUpper(hex64), "sha256:" + hex64[:63] + "g", "tarsum.v1+sha256:abc", "", ":"}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, l := range all {
				eager := regexp.MustCompile(l.expr)
				for _, in := range inputs {
					if l.MatchString(in) != eager.MatchString(in) || l.FindString(in) != eager.FindString(in) {
						t.Errorf("%s on %q answers otherwise than compiled eagerly", l.expr, in)
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range []struct {
		in   string
		want error
	}{
		{"sha256:" + hex64, nil},
		{"sha512:" + hex64 + hex64, nil},
		{"sha256:" + strings.ToUpper(hex64), ErrDigestInvalidFormat},
		{"sha256:" + hex64[:62], ErrDigestInvalidLength},
		{"md5:" + hex64[:32], ErrDigestUnsupported},
		{"sha256" + hex64, ErrDigestInvalidFormat},
	} {
		if _, err := Parse(c.in); err != c.want {
			t.Errorf("Parse(%q): %v, want %v", c.in, err, c.want)
		}
	}
}
