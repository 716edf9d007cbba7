// Package dockerfile reads the stages of a Dockerfile: the names that
// `docker build --target` accepts. It follows the Dockerfile syntax as far as
// finding every FROM needs: parser directives (escape), comments, line
// continuations (comment and blank lines inside one are skipped, as BuildKit
// does) and heredocs, whose bodies are not instructions.
package dockerfile

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
)

// Stage is one FROM of a Dockerfile.
type Stage struct {
	Name string // lower-cased, as BuildKit matches --target; empty when unnamed
	Base string // the image or earlier stage it starts from, as written
	Line int    // line of its FROM, from 1
}

// Parse returns the stages of a Dockerfile in order. A FROM that cannot be
// read, or no FROM at all, is an error naming the line.
func Parse(r io.Reader) ([]Stage, error) {
	var (
		stages     []Stage
		escape     = '\\'
		directives = true // parser directives come first, before anything else
		logical    strings.Builder
		start      int      // line where the current instruction began
		heredocs   []string // terminators still to find, in order
		stripTabs  []bool
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if len(heredocs) > 0 {
			end := line
			if stripTabs[0] {
				end = strings.TrimLeft(end, "\t")
			}
			if end == heredocs[0] {
				heredocs, stripTabs = heredocs[1:], stripTabs[1:]
			}
			continue
		}
		trimmed := strings.TrimSpace(line)
		if directives {
			if m := directive().FindStringSubmatch(line); m != nil {
				if strings.EqualFold(m[1], "escape") {
					switch m[2] {
					case "`":
						escape = '`'
					case `\`:
						escape = '\\'
					default:
						return nil, fmt.Errorf("line %d: escape directive %q: use \\ or `", n, m[2])
					}
				}
				continue
			}
			directives = false
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue // a blank or comment line, also inside a continuation
		}
		if logical.Len() == 0 {
			start = n
		}
		body := strings.TrimRightFunc(line, isSpace)
		if strings.HasSuffix(body, string(escape)) {
			logical.WriteString(strings.TrimSuffix(body, string(escape)))
			logical.WriteString(" ")
			continue
		}
		logical.WriteString(body)
		instruction := logical.String()
		logical.Reset()
		fields := strings.Fields(instruction)
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			st, err := parseFrom(fields[1:], start)
			if err != nil {
				return nil, err
			}
			stages = append(stages, st)
		case "RUN", "COPY", "ADD":
			for _, m := range heredoc().FindAllStringSubmatch(instruction, -1) {
				heredocs = append(heredocs, m[3])
				stripTabs = append(stripTabs, m[1] == "-")
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM instruction")
	}
	return stages, nil
}

var (
	directive = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$`) })
	heredoc   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)(["']?)`) })
)

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\r' }

// parseFrom reads FROM [--flag=…] image [AS name].
func parseFrom(args []string, line int) (Stage, error) {
	for len(args) > 0 && strings.HasPrefix(args[0], "--") {
		args = args[1:]
	}
	switch {
	case len(args) == 1:
		return Stage{Base: args[0], Line: line}, nil
	case len(args) == 3 && strings.EqualFold(args[1], "AS"):
		return Stage{Base: args[0], Name: strings.ToLower(args[2]), Line: line}, nil
	case len(args) == 0:
		return Stage{}, fmt.Errorf("line %d: FROM without an image", line)
	default:
		return Stage{}, fmt.Errorf("line %d: FROM %s: write FROM image [AS name]", line, strings.Join(args, " "))
	}
}

// Has reports whether stages has one called name; case does not matter, as
// for docker build --target.
func Has(stages []Stage, name string) bool {
	for _, s := range stages {
		if s.Name != "" && s.Name == strings.ToLower(name) {
			return true
		}
	}
	return false
}

// Names lists the named stages, in order.
func Names(stages []Stage) []string {
	var names []string
	for _, s := range stages {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	return names
}
