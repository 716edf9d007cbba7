package digest

// dtx patch: this file is not upstream's (see third_party/README.md in the
// repository that holds this copy).

import (
	"regexp"
	"sync"
)

// lazyRegexp is a regular expression compiled on its first use, behind a
// sync.Once, instead of in the package's initialisation. It has the
// reading methods of *regexp.Regexp that callers of this package's
// exported expressions use; Regexp gives the compiled expression for the
// rest. Code that passes one where a *regexp.Regexp is expected does not
// compile: a dependency that needs more fails the build, never a run.
type lazyRegexp struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

func lazy(expr string) *lazyRegexp { return &lazyRegexp{expr: expr} }

// Regexp is the compiled expression.
func (l *lazyRegexp) Regexp() *regexp.Regexp {
	l.once.Do(func() { l.re = regexp.MustCompile(l.expr) })
	return l.re
}

func (l *lazyRegexp) String() string                       { return l.expr }
func (l *lazyRegexp) MatchString(s string) bool            { return l.Regexp().MatchString(s) }
func (l *lazyRegexp) Match(b []byte) bool                  { return l.Regexp().Match(b) }
func (l *lazyRegexp) FindString(s string) string           { return l.Regexp().FindString(s) }
func (l *lazyRegexp) FindStringIndex(s string) []int       { return l.Regexp().FindStringIndex(s) }
func (l *lazyRegexp) FindStringSubmatch(s string) []string { return l.Regexp().FindStringSubmatch(s) }
func (l *lazyRegexp) FindAllString(s string, n int) []string {
	return l.Regexp().FindAllString(s, n)
}
