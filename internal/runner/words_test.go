package runner

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"python manage.py migrate", []string{"python", "manage.py", "migrate"}},
		{"  sh   -c  ", []string{"sh", "-c"}},
		{`python manage.py shell -c "print('a b')"`, []string{"python", "manage.py", "shell", "-c", "print('a b')"}},
		{`sh -c 'echo "$HOME" | wc -c'`, []string{"sh", "-c", `echo "$HOME" | wc -c`}},
		{`echo "a \"b\" \\ \n"`, []string{"echo", `a "b" \ \n`}},
		{`echo a\ b c\"d`, []string{"echo", "a b", `c"d`}},
		{`echo '' "" x`, []string{"echo", "", "", "x"}},
		{`echo pre"mid dle"post`, []string{"echo", "premid dlepost"}},
	} {
		got, err := SplitWords(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitWords(%s) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestSplitWordsRejects(t *testing.T) {
	for in, want := range map[string]string{
		`echo "open`: `unterminated " quote`,
		`echo 'open`: `unterminated ' quote`,
		`echo a\`:    "lone backslash",
		"   ":        "no command given",
	} {
		_, err := SplitWords(in)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("SplitWords(%s): %v, want one line with %q", in, err, want)
		}
	}
}
