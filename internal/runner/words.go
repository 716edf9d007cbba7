package runner

import (
	"errors"
	"fmt"
	"strings"
)

// SplitWords splits the command of stack:exec into arguments the way a POSIX
// shell splits words, without expanding anything: mage hands a target one
// string, and `python manage.py shell -c "print('a b')"` must reach the
// container as four arguments. Single quotes keep everything literally;
// double quotes keep everything but \" and \\; a backslash outside quotes
// keeps the next character.
func SplitWords(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   rune // 0, '\'' or '"'
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			if quote == '"' && r != '"' && r != '\\' {
				cur.WriteRune('\\')
			}
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	switch {
	case quote != 0:
		return nil, fmt.Errorf("the command has an unterminated %c quote: close it, or escape it with a backslash", quote)
	case escaped:
		return nil, errors.New("the command ends with a lone backslash: remove it or escape it as \\\\")
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("no command given: say what to run, e.g. stack:exec debug backend \"python manage.py migrate\"")
	}
	return words, nil
}
