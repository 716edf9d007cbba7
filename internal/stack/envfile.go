package stack

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"unicode"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/template"
)

// readEnvFile reads one env file without ever blocking or following a
// .local file elsewhere: a .local file holds secrets, so a symbolic link
// (a shadow-like file "parsed" into the containers) or a FIFO (which would
// hang the tool) is refused. The committed file may be a link, but must end
// at a regular file. warning is set when a .local file is open to group or
// others.
func readEnvFile(path, shown string, local bool) (data []byte, warning string, err error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK // a FIFO opens at once instead of waiting for a writer
	if local {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		if fi, lerr := os.Lstat(path); local && lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, "", fmt.Errorf("%s is a symbolic link: the tool does not follow a .local file (it holds secrets); replace the link with a regular file of mode 0600", shown)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("%s: cannot read the env file: %w", shown, errors.Unwrap(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", shown, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("%s is not a regular file (%s): replace it with a regular file of KEY=value lines", shown, fileKind(fi.Mode()))
	}
	if local && fi.Mode().Perm()&0o077 != 0 {
		warning = fmt.Sprintf("%s is open to group or others (mode %04o) and holds secrets: chmod 600 %s", shown, fi.Mode().Perm(), shown)
	}
	data, err = io.ReadAll(f)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", shown, err)
	}
	return data, warning, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a plain file"
}

// parseKeys returns the keys one env file sets, in order of appearance, and
// the first error with its line. It cuts the file into statements the way
// compose-go's dotenv parser does and has compose-go parse each statement
// once, in the context of what came before (the process environment, then
// earlier files and statements): the file is read once, so finding the
// failing line costs as much as reading the file, and the line number is
// where the statement starts (compose-go's own count is off for an
// unclosed quote or a bad ${…}, and its message echoes the line).
func parseKeys(data []byte, shown string, local bool, process, before map[string]string) ([]string, error) {
	keys, _, _, err := parseStatements(string(data), shown, local, process, before)
	return keys, err
}

// parseStatements is parseKeys that also returns the values (before's and
// the file's, merged) and how many bytes it handed to compose-go's parser,
// for the tests that hold it to compose-go and prove the work linear.
func parseStatements(src, shown string, local bool, process, before map[string]string) ([]string, map[string]string, int, error) {
	src = strings.TrimPrefix(src, "\uFEFF") // as compose-go does
	acc := make(map[string]string, len(before))
	for k, v := range before {
		acc[k] = v
	}
	lookup := func(k string) (string, bool) {
		if v, ok := process[k]; ok {
			return v, true
		}
		v, ok := acc[k]
		return v, ok
	}
	var keys []string
	parsed := 0
	rest, line := src, 1
	for {
		next := statementStart(rest)
		line += strings.Count(rest[:len(rest)-len(next)], "\n")
		if next == "" {
			return keys, acc, parsed, nil
		}
		st, after := cutStatement(next)
		fail := func(cause string) ([]string, map[string]string, int, error) {
			return keys, acc, parsed, fmt.Errorf("%s:%d: cannot parse %s: %s", shown, line, shownKey(st.key, local), cause)
		}
		if st.problem != "" {
			return fail(st.problem)
		}
		parsed += len(st.text)
		out, err := dotenv.UnmarshalWithLookup(st.text, lookup)
		if err != nil {
			return fail(templateProblem(err, local || IsSecretKey(firstWord(st.key))))
		}
		for k, v := range out {
			acc[k] = v
		}
		if _, ok := out[st.key]; ok {
			keys = append(keys, st.key)
		}
		line += strings.Count(st.text, "\n")
		rest = after
	}
}

// shownKey names the statement in an error: its key, unless the file is a
// .local one or the key looks secret (then nothing of the line is shown).
func shownKey(key string, local bool) string {
	k := firstWord(key)
	if local || k == "" || IsSecretKey(k) {
		return "the line"
	}
	return fmt.Sprintf("%q", Clip(k))
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// templateProblem says what is wrong with a ${…} expression; the message
// of a ${VAR:?message} is the file's text, shown only when not secret.
func templateProblem(err error, secret bool) string {
	var missing *template.MissingRequiredError
	var invalid *template.InvalidTemplateError
	switch {
	case errors.As(err, &missing):
		return requiredProblem(missing.Variable, missing.Reason, secret)
	case errors.As(err, &invalid):
		return "invalid ${…} expression: write ${VAR}, ${VAR:-default} or ${VAR:?message}; $$ for a literal $"
	}
	return "compose's env-file parser refuses it: write KEY=value, quote values with spaces or #"
}

func requiredProblem(variable, reason string, secret bool) string {
	msg := fmt.Sprintf("required variable %s is not set", Clip(variable))
	if reason != "" && !secret {
		msg += " (" + Clip(reason) + ")"
	}
	return msg + ": set it in the process environment or in an earlier line"
}

// statement is one KEY=value (or a bare KEY, taken from the environment)
// of an env file, delimited as compose-go's dotenv parser delimits it.
type statement struct {
	text    string // from the key to the end of the value (its newline included)
	key     string
	problem string // why it cannot be delimited, if it cannot
}

var exportPrefix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^export\s+`) }) // compose-go's

// statementStart skips blank space and comment lines, like compose-go's
// getStatementStart.
func statementStart(src string) string {
	for {
		pos := strings.IndexFunc(src, func(r rune) bool { return !unicode.IsSpace(r) })
		if pos == -1 {
			return ""
		}
		src = src[pos:]
		if src[0] != '#' {
			return src
		}
		pos = strings.IndexByte(src, '\n')
		if pos == -1 {
			return ""
		}
		src = src[pos:]
	}
}

// cutStatement delimits the statement at the start of src and returns what
// follows it. It mirrors compose-go's locateKeyName and extractVarValue; the
// differential and fuzz tests hold the two together.
func cutStatement(src string) (statement, string) {
	whole := src
	if exportPrefix().MatchString(src) {
		src = strings.TrimLeftFunc(strings.TrimPrefix(src, "export"), isSpace)
	}
	key, offset, inherited := "", 0, false
loop:
	for i, r := range src {
		if isSpace(r) {
			continue
		}
		switch r {
		case '=', ':', '\n':
			key, offset, inherited = src[:i], i+1, r == '\n'
			break loop
		case '_', '.', '-', '[', ']':
		default:
			if unicode.IsLetter(r) || unicode.IsNumber(r) {
				continue
			}
			return statement{key: src[:i], problem: "a variable name holds only letters, digits and _ . - [ ]: write KEY=value"}, ""
		}
	}
	if src == "" {
		return statement{problem: `"export" without a variable: write export KEY=value`}, ""
	}
	key = strings.TrimRightFunc(key, unicode.IsSpace)
	if strings.Contains(key, " ") {
		return statement{key: key, problem: "a variable name cannot contain a space: write KEY=value, quote values with spaces or #"}, ""
	}
	value := strings.TrimLeftFunc(src[offset:], isSpace)
	end := len(whole) - len(value) // the statement so far, within whole
	if inherited {
		return statement{text: whole[:end], key: key}, value
	}
	if value == "" || (value[0] != '"' && value[0] != '\'') {
		_, after, found := strings.Cut(value, "\n")
		if !found {
			return statement{text: whole, key: key}, ""
		}
		return statement{text: whole[:len(whole)-len(after)], key: key}, after
	}
	quote, escaped := value[0], false
	for i := 1; i < len(value); i++ {
		c := value[i]
		switch {
		case c != quote && !escaped && c == '\\':
			escaped = true
		case c != quote:
			escaped = false
		case escaped:
			escaped = false
		default:
			n := end + i + 1
			return statement{text: whole[:n], key: key}, whole[n:]
		}
	}
	return statement{key: key, problem: "the quoted value that starts here is not closed: end it with the same quote"}, ""
}

// isSpace is compose-go's: space characters except the line break.
func isSpace(r rune) bool {
	switch r {
	case '\t', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}

// redactedCause is a compose-go parse error without the text it quotes.
func redactedCause(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": line "); i >= 0 {
		msg = msg[i+2:]
	}
	if line, _, ok := strings.Cut(msg, ":"); ok && strings.HasPrefix(line, "line ") {
		return line + ": write KEY=value, quote values with spaces or #"
	}
	return "write KEY=value, quote values with spaces or #"
}
