package reference

import (
	"regexp"
	"sync"
	"testing"
)

// Ours (dtx): nothing is compiled before its first use, the lazy
// expressions answer as the eager ones of upstream would, and concurrent
// first uses are safe (go test -race).
func TestLazyRegexps(t *testing.T) {
	all := []*lazyRegexp{DigestRegexp, DomainRegexp, IdentifierRegexp, NameRegexp, ReferenceRegexp, TagRegexp,
		anchoredTagRegexp, anchoredDigestRegexp, anchoredNameRegexp, anchoredIdentifierRegexp}
	for _, l := range all {
		if l.re != nil {
			t.Fatalf("%s was compiled at start", l.expr)
		}
	}
	refs := []string{"nginx", "docker.io/library/nginx:1.27", "127.0.0.1:5000/dtx/backend:0.1.0",
		"[::1]:5000/a/b@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "UPPER/case", "a//b", ""}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, l := range all {
				eager := regexp.MustCompile(l.expr)
				for _, ref := range refs {
					if got, want := l.FindStringSubmatch(ref), eager.FindStringSubmatch(ref); len(got) != len(want) || l.MatchString(ref) != eager.MatchString(ref) {
						t.Errorf("%s on %q: %q, want %q", l.expr, ref, got, want)
					}
				}
			}
		}()
	}
	wg.Wait()
	if _, err := ParseNormalizedNamed("127.0.0.1:5000/dtx/backend:0.1.0"); err != nil {
		t.Error(err)
	}
	if _, err := ParseNormalizedNamed("Upper/Case"); err == nil {
		t.Error("an upper-case repository was accepted")
	}
}
