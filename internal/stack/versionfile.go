package stack

import (
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// versionStatement finds the statement that sets VERSION in an env file's
// content as compose reads it (cutStatement delimits statements as
// compose-go's parser does): the last one, since it wins. A line that
// looks like VERSION=… inside another value's quotes is not a statement.
// It returns the statement's start and end offsets in content.
func versionStatement(content string) (start, end int, st statement, found bool) {
	src := strings.TrimPrefix(content, "\uFEFF")
	base := len(content) - len(src)
	rest := src
	for {
		next := statementStart(rest)
		if next == "" {
			return
		}
		s, after := cutStatement(next)
		if s.problem != "" {
			return // compose reads no statement after a broken one either
		}
		if s.key == "VERSION" {
			start = base + len(src) - len(next)
			end, st, found = start+len(s.text), s, true
		}
		rest = after
	}
}

// FileVersion reads VERSION as the env file's content writes it, without
// interpolation: what version:set and version:bump edit.
func FileVersion(content []byte) (string, bool) {
	_, _, st, found := versionStatement(string(content))
	if !found {
		return "", false
	}
	out, err := dotenv.UnmarshalWithLookup(st.text, func(string) (string, bool) { return "", false })
	if err != nil {
		return "", false
	}
	v, ok := out["VERSION"]
	return v, ok
}

// SetVersion returns an env file's content with VERSION set to v: the
// statement compose reads as VERSION (the last) is rewritten in place, its
// quotes, export, spacing and a trailing comment kept; every other byte
// stays. Without such a statement, VERSION=v is appended. v is a checked
// version (CheckVersion): it needs no quoting.
func SetVersion(content []byte, v string) []byte {
	text := string(content)
	start, end, st, found := versionStatement(text)
	if !found {
		out := text
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		return []byte(out + "VERSION=" + v + "\n")
	}
	// The statement: [export ]VERSION<blanks>[=:]<blanks>VALUE…
	i := strings.IndexAny(st.text, "=:")
	head := st.text[:i+1]
	value := st.text[i+1:]
	blanks := len(value) - len(strings.TrimLeftFunc(value, isSpace))
	head, value = head+value[:blanks], value[blanks:]
	var replaced string
	switch {
	case value != "" && (value[0] == '"' || value[0] == '\''):
		// Quoted: the statement ends at the closing quote.
		replaced = head + string(value[0]) + v + string(value[0])
	default:
		// Unquoted: up to the line's end; keep a " #" comment and the
		// line break (CRLF too).
		body := strings.TrimRight(value, "\r\n")
		eol := value[len(body):]
		tail := ""
		if j := strings.Index(body, " #"); j >= 0 {
			tail = body[j:]
		}
		replaced = head + v + tail + eol
	}
	return []byte(text[:start] + replaced + text[end:])
}
