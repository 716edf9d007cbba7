// Package deploy deploys the release stack on one host (prod:deploy,
// prod:rollback, prod:status): the version in docker/.env.release, what
// runs and what must change, the history of deploys, and the run itself.
// The decisions (the plan, a new container's health, whether nginx's image
// changed, what a roll pins, removes and retires, the rollback's target)
// are pure functions of what docker and compose answer; the run plans each
// command here and runs it through a session, waiting with its Poll.
package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/mod/semver"
)

// CheckVersion accepts what VERSION may be: MAJOR.MINOR.PATCH with an
// optional pre-release (1.2.3, 1.2.3-rc.1), no leading v, no build
// metadata (+ is not valid in an image tag).
func CheckVersion(v string) error {
	core, _, _ := strings.Cut(v, "-")
	if strings.HasPrefix(v, "v") || strings.Contains(v, "+") || strings.Count(core, ".") != 2 || !semver.IsValid("v"+v) {
		return fmt.Errorf("%q is not a version: use MAJOR.MINOR.PATCH, for example 1.2.3 (a pre-release like 1.2.3-rc.1 is fine; no v, no +build)", clip(v))
	}
	return nil
}

// Bump returns v with part (major, minor or patch) raised and the parts
// after it zeroed; a pre-release is dropped (1.3.0-rc.1 bumped as patch is
// 1.3.0's next, 1.3.1).
func Bump(v, part string) (string, error) {
	if err := CheckVersion(v); err != nil {
		return "", err
	}
	core, _, _ := strings.Cut(v, "-")
	var n [3]int
	for i, s := range strings.Split(core, ".") {
		n[i], _ = strconv.Atoi(s)
	}
	switch part {
	case "major":
		n = [3]int{n[0] + 1, 0, 0}
	case "minor":
		n = [3]int{n[0], n[1] + 1, 0}
	case "patch":
		n = [3]int{n[0], n[1], n[2] + 1}
	default:
		return "", fmt.Errorf("%q is not a part of a version: bump major, minor or patch", clip(part))
	}
	return fmt.Sprintf("%d.%d.%d", n[0], n[1], n[2]), nil
}

// versionLine matches an env-file line that sets VERSION, with its prefix
// (indent, export, the = and blanks) and the value with what follows.
var versionLine = regexp.MustCompile(`^(\s*(?:export\s+)?VERSION\s*[=:]\s*)(.*)$`)

// SetVersion returns an env file's content with VERSION set to v: the last
// line that sets it (the one that wins) is rewritten in place, its quotes and
// a trailing comment kept; every other line, comment and blank stays as it
// was. Without such a line, VERSION=v is appended.
func SetVersion(content []byte, v string) []byte {
	lines := bytes.SplitAfter(content, []byte("\n"))
	last := -1
	for i, l := range lines {
		if versionLine.Match(bytes.TrimRight(l, "\r\n")) {
			last = i
		}
	}
	if last < 0 {
		out := append([]byte(nil), content...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		return append(out, []byte("VERSION="+v+"\n")...)
	}
	line := lines[last]
	body := bytes.TrimRight(line, "\r\n")
	eol := line[len(body):]
	m := versionLine.FindSubmatch(body)
	prefix, rest := string(m[1]), string(m[2])
	value := v
	switch {
	case strings.HasPrefix(rest, `"`):
		value = `"` + v + `"` + tail(rest[1:], '"')
	case strings.HasPrefix(rest, `'`):
		value = `'` + v + `'` + tail(rest[1:], '\'')
	default:
		if i := strings.Index(rest, " #"); i >= 0 {
			value = v + rest[i:]
		}
	}
	lines[last] = append([]byte(prefix+value), eol...)
	return bytes.Join(lines, nil)
}

// tail is what follows the closing quote q in s (a comment, say).
func tail(s string, q byte) string {
	if i := strings.IndexByte(s, q); i >= 0 {
		return s[i+1:]
	}
	return ""
}

// FileVersion reads the value of the last VERSION line of an env file's
// content as written (no interpolation): what version:set and bump edit.
func FileVersion(content []byte) (string, bool) {
	var v string
	found := false
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		m := versionLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		rest := m[2]
		switch {
		case strings.HasPrefix(rest, `"`) || strings.HasPrefix(rest, `'`):
			rest = rest[1:]
			if i := strings.IndexByte(rest, m[2][0]); i >= 0 {
				rest = rest[:i]
			}
		default:
			if i := strings.Index(rest, " #"); i >= 0 {
				rest = rest[:i]
			}
		}
		v, found = strings.TrimSpace(rest), true
	}
	return v, found
}

// clip bounds a value quoted in a message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
