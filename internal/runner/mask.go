package runner

import (
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// MaskText replaces a secret in what the tool prints.
const MaskText = "****"

// MinSubstringSecret is the length (in bytes) from which a secret is masked
// wherever it appears, even inside a longer word. A shorter secret (DEBUG=1
// in a .local file, a four-letter password) is masked only where it stands
// as a whole word, so that it cannot turn `frontend:0.1.0` into
// `frontend:0.****.0`, yet is never printed in clear as an argument, an env
// value or a word of a message.
const MinSubstringSecret = 8

// Masker hides secret values in everything the tool prints. It works on the
// raw values, before any quoting, so a secret is hidden whatever characters
// it contains (quotes, $, spaces, newlines).
//
// The rule: a secret of MinSubstringSecret bytes or more is masked wherever
// it occurs. A shorter one is masked where it is a whole word: where it
// starts with a word character (a letter, a digit, '.', '-' or '_'), none
// precedes it, and where it ends with one, none follows it. So an argument, an env
// value (after "KEY=") or a word of a message that equals a short secret is
// masked whole, and a short secret inside a longer word is left alone.
// Overlapping secrets are masked together.
//
// A Masker is safe for concurrent use: a target's probes run in parallel
// while it learns more secrets.
type Masker struct {
	mu      sync.RWMutex
	secrets []string // non-empty, distinct, longest first
}

// NewMasker returns a Masker hiding secrets.
func NewMasker(secrets ...string) *Masker {
	m := &Masker{}
	m.Add(secrets...)
	return m
}

// Add adds secrets to hide; empty values are ignored. Every form a value
// takes on its way out is hidden too (Forms): split into words (a .local
// PRE_DEPLOY becomes several arguments), quoted for Go, JSON, YAML or a
// shell, and cut short by Clip.
func (m *Masker) Add(secrets ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range secrets {
		for _, v := range Forms(s) {
			if v != "" && !m.isSecret(v) {
				m.secrets = append(m.secrets, v)
			}
		}
	}
	sort.SliceStable(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
}

// ClipAt is where messages cut a long value (stack.MaxShown, in runes):
// the part of a secret before that cut is a form of it.
const ClipAt = 80

// Forms are the strings a secret value s can show up as in what the tool
// prints or writes, s first: its words (as a shell splits them, and as
// blanks do) when it has several, its escaped forms (Go and JSON strings,
// YAML double- and single-quoted scalars, a POSIX shell's single quotes),
// and its first ClipAt runes when it is longer. A value is a secret
// whatever form it takes.
func Forms(s string) []string {
	if s == "" {
		return nil
	}
	forms := []string{s}
	add := func(v string) {
		if v != "" && !slices.Contains(forms, v) {
			forms = append(forms, v)
		}
	}
	// Words of one or two bytes ("-p", "1") are left out: they say
	// nothing of the secret and would mask half of every line.
	word := func(w string) {
		if len(w) > 2 {
			add(w)
		}
	}
	words, err := SplitWords(s)
	if err == nil && len(words) > 1 {
		for _, w := range words {
			word(w)
		}
	}
	if fields := strings.Fields(s); len(fields) > 1 {
		for _, f := range fields {
			word(f)
		}
	}
	for _, v := range append([]string{}, forms...) {
		quoted := strconv.Quote(v)
		add(quoted[1 : len(quoted)-1])
		if j, err := json.Marshal(v); err == nil {
			add(string(j[1 : len(j)-1]))
		}
		add(strings.ReplaceAll(v, "'", "''"))   // YAML single-quoted
		add(strings.ReplaceAll(v, "'", `'\''`)) // a shell's single quotes
		add(strings.ReplaceAll(v, `"`, `\"`))   // a double-quoted word
	}
	if r := []rune(s); len(r) > ClipAt {
		add(string(r[:ClipAt]))
	}
	return forms
}

// IsSecret tells whether v is exactly one of the secrets.
func (m *Masker) IsSecret(v string) bool {
	if m == nil {
		return false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.isSecret(v)
}

func (m *Masker) isSecret(v string) bool {
	for _, s := range m.secrets {
		if s == v {
			return true
		}
	}
	return false
}

// Hides tells whether masking v changes it: v is or contains a secret.
func (m *Masker) Hides(v string) bool { return len(m.spans(v)) > 0 }

// spans returns the sorted, disjoint byte ranges of s to mask.
func (m *Masker) spans(s string) [][2]int {
	if m == nil || s == "" {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.secrets) == 0 {
		return nil
	}
	var covered []bool
	for _, secret := range m.secrets {
		short := len(secret) < MinSubstringSecret
		for from := 0; from <= len(s)-len(secret); {
			i := strings.Index(s[from:], secret)
			if i < 0 {
				break
			}
			i += from
			end := i + len(secret)
			if !short || wholeWord(s, i, end) {
				if covered == nil {
					covered = make([]bool, len(s))
				}
				for k := i; k < end; k++ {
					covered[k] = true
				}
			}
			from = i + 1
		}
	}
	var spans [][2]int
	for i := 0; i < len(covered); i++ {
		if !covered[i] {
			continue
		}
		j := i
		for j < len(covered) && covered[j] {
			j++
		}
		spans = append(spans, [2]int{i, j})
		i = j
	}
	return spans
}

// wholeWord tells whether the word characters at the edges of s[i:end] do
// not continue outside it: no word character right before it when it
// starts with one, none right after it when it ends with one.
func wholeWord(s string, i, end int) bool {
	if first, _ := utf8.DecodeRuneInString(s[i:end]); i > 0 && isWordRune(first) {
		if r, _ := utf8.DecodeLastRuneInString(s[:i]); isWordRune(r) {
			return false
		}
	}
	if last, _ := utf8.DecodeLastRuneInString(s[i:end]); end < len(s) && isWordRune(last) {
		if r, _ := utf8.DecodeRuneInString(s[end:]); isWordRune(r) {
			return false
		}
	}
	return true
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_'
}

// Text returns s with every secret in it replaced by MaskText.
func (m *Masker) Text(s string) string {
	spans := m.spans(s)
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp[0]])
		b.WriteString(MaskText)
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// Quote quotes s for a POSIX shell as Quote does, with its secrets masked
// first: the parts around a secret are quoted as needed and the secret
// prints as a bare ****, so no quoting or escaping can split a secret.
func (m *Masker) Quote(s string) string {
	spans := m.spans(s)
	if len(spans) == 0 {
		return Quote(s)
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		if last < sp[0] {
			b.WriteString(Quote(s[last:sp[0]]))
		}
		b.WriteString(MaskText)
		last = sp[1]
	}
	if last < len(s) {
		b.WriteString(Quote(s[last:]))
	}
	return b.String()
}

// Command renders c as Command.String does, each env entry and argument
// masked before it is quoted.
func (m *Masker) Command(c Command) string {
	parts := []string{}
	for _, kv := range c.Env {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			parts = append(parts, m.Quote(k)+"="+m.Quote(v))
		} else {
			parts = append(parts, m.Quote(kv))
		}
	}
	parts = append(parts, m.Quote(c.Name))
	for _, a := range c.Args {
		parts = append(parts, m.Quote(a))
	}
	s := strings.Join(parts, " ")
	if c.StdinNote != "" {
		s += " < " + m.Text(c.StdinNote)
	}
	if c.StdoutNote != "" {
		s += " > " + m.Text(c.StdoutNote)
	}
	return s
}

// Error returns err with its text masked; errors.Is and errors.As still
// see err (an exit status survives).
func (m *Masker) Error(err error) error {
	if err == nil {
		return nil
	}
	text := m.Text(err.Error())
	if text == err.Error() {
		return err
	}
	return &maskedError{text: text, err: err}
}

type maskedError struct {
	text string
	err  error
}

func (e *maskedError) Error() string { return e.text }
func (e *maskedError) Unwrap() error { return e.err }

// ExitStatus keeps the wrapped error's exit status visible to mage, which
// checks the returned error itself, not its chain.
func (e *maskedError) ExitStatus() int {
	var exit interface{ ExitStatus() int }
	if errors.As(e.err, &exit) {
		return exit.ExitStatus()
	}
	return 1
}
