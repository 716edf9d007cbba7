package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"gopkg.in/yaml.v3"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

func TestMaskRule(t *testing.T) {
	for _, c := range []struct {
		name    string
		secrets []string
		cmd     Command
		want    string
	}{
		{name: "quote in a secret is masked before quoting", secrets: []string{"pa'ss w0rd"},
			cmd:  Command{Name: "docker", Args: []string{"exec", `psql "postgres://app:pa'ss w0rd@db/app"`}},
			want: `docker exec 'psql "postgres://app:'****'@db/app"'`},
		{name: "e-mail with a quote", secrets: []string{"o'brien@example.com"},
			cmd:  Command{Name: "certbot", Args: []string{"--email", "o'brien@example.com"}},
			want: `certbot --email ****`},
		{name: "dollar in a secret", secrets: []string{"pa$$w0rd!"},
			cmd:  Command{Name: "x", Env: []string{"DB_PASSWORD=pa$$w0rd!"}, Args: []string{"--pw=pa$$w0rd!"}},
			want: `DB_PASSWORD=**** x --pw=****`},
		{name: "short value does not corrupt versions or numbers", secrets: []string{"1"},
			cmd:  Command{Name: "docker", Args: []string{"pull", "frontend:0.1.0", "--wait-timeout", "120"}},
			want: `docker pull frontend:0.1.0 --wait-timeout 120`},
		{name: "short value equal to an argument is masked", secrets: []string{"1"},
			cmd:  Command{Name: "x", Args: []string{"1", "--debug=1"}, Env: []string{"DEBUG=1"}},
			want: `DEBUG=**** x **** --debug=****`},
		{name: "one-letter secret leaves other a's alone", secrets: []string{"a"},
			cmd:  Command{Name: "docker", Args: []string{"compose", "a", "--project-name", "dtx-a"}},
			want: `docker compose **** --project-name dtx-a`},
		{name: "long secret inside a word", secrets: []string{"sekret123"},
			cmd:  Command{Name: "x", Args: []string{"abcsekret123def"}},
			want: `x abc****def`},
		{name: "overlapping secrets mask together", secrets: []string{"abcdefgh12", "12zyxwvu99"},
			cmd:  Command{Name: "x", Args: []string{"abcdefgh12zyxwvu99"}},
			want: `x ****`},
		{name: "short secret starting with punctuation", secrets: []string{"$x!"},
			cmd:  Command{Name: "x", Args: []string{"ab$x!", "$x!cd"}},
			want: `x ab**** ****cd`},
		{name: "newline in a secret", secrets: []string{"line1\nline2"},
			cmd:  Command{Name: "x", Args: []string{"a\nline1\nline2"}},
			want: "x 'a\n'****"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := NewMasker(c.secrets...).Command(c.cmd); got != c.want {
				t.Fatalf("printed\n  %s\nwant\n  %s", got, c.want)
			}
		})
	}
}

func TestMaskedErrorKeepsExitStatus(t *testing.T) {
	r, _, _ := newTest(false, "s3cr3t-value")
	err := r.Run(context.Background(), Command{Name: "sh", Args: []string{"-c", "exit 3", "s3cr3t-value"}})
	masked := NewMasker("s3cr3t-value").Error(fmt.Errorf("wrapped: %w", err))
	if strings.Contains(masked.Error(), "s3cr3t-value") {
		t.Fatalf("error shows the secret: %v", masked)
	}
	var exit *ExitError
	if !errors.As(masked, &exit) || exit.Code != 3 {
		t.Fatalf("exit status lost: %v", masked)
	}
}

// rare runes never appear in what the tests print except from a secret.
const rare = "QZXJKVé日€"

// TestMaskProperty: random secrets, with quotes, $, spaces, newlines and
// unicode, embedded in arguments, env values, errors and progress lines,
// never appear in what is printed. Long secrets are embedded anywhere, even
// inside words; short ones as whole words (the rule), and they carry a rare
// rune that nothing else prints, so finding any rare rune means a leak.
func TestMaskProperty(t *testing.T) {
	// edgeless wraps a short secret in non-word characters, so that it is a
	// whole word whatever is glued to it.
	edgeless := func(s string) string { return "'" + s + "'" }
	rng := rand.New(rand.NewSource(1))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyz0123456789'\"$ \n\t\\`;&|(){}<>*?#=:@/.-_~!%" + rare)
	filler := []rune("abcdefghijklmnopqrstuvwxyz0123456789-./:")
	random := func(runes []rune, n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteRune(runes[rng.Intn(len(runes))])
		}
		return b.String()
	}
	for round := 0; round < 2000; round++ {
		long := random(alphabet, MinSubstringSecret+rng.Intn(24))
		if rng.Intn(4) == 0 { // a raw byte: env files need not be UTF-8
			long += string([]byte{byte(0x80 + rng.Intn(0x80))})
		}
		short := random(alphabet, rng.Intn(MinSubstringSecret-1)) + string([]rune(rare)[rng.Intn(len([]rune(rare)))])
		if rng.Intn(2) == 0 {
			short = strings.TrimSpace(short) // a word has no edge spaces, or it would not be one
			if !strings.ContainsAny(short, rare) {
				short += "Q"
			}
		}
		m := NewMasker(long, short)
		w := func() string { return random(filler, rng.Intn(6)) }
		cmd := Command{
			Name: "docker",
			Env:  []string{"A=" + long, "B=" + short, "C=" + w() + long + w()},
			Args: []string{w() + long + w(), short, "--x=" + short, w(), "a " + short + " b", w() + long},
		}
		var log, out bytes.Buffer
		r := &Runner{DryRun: true, Log: &log, Stdout: &out, Stderr: &out, Secrets: NewMasker(long, short)}
		r.Print(cmd)
		printed := log.String() +
			m.Error(fmt.Errorf("value=%q from x.local is wrong", short+" "+long)).Error() + "\n" +
			m.Text("progress: "+w()+long+w()+" for "+short+" done") + "\n" +
			m.Text("glued: "+w()+edgeless(short)+w()) + "\n" +
			m.Error(fmt.Errorf("bad value %s (%s): %w", short, w()+long, errors.New("inner "+long))).Error() + "\n" +
			r.Mask("certbot: "+long+"@"+w()+" '"+short+"'")
		if strings.Contains(printed, long) {
			t.Fatalf("round %d: long secret %q printed in:\n%s", round, long, printed)
		}
		if strings.ContainsAny(printed, rare) {
			t.Fatalf("round %d: short secret %q (or part of one) printed in:\n%s", round, short, printed)
		}
	}
}

// A secret is a secret whatever form it takes on its way out: a .local
// value split into arguments (PRE_DEPLOY, E2E_RUNNER_COMMAND), quoted for a
// shell, JSON-escaped in a record, YAML-quoted in a stack file, or cut
// short in a message. Random secrets of several words, each embedded in
// random ways, never print.
func TestMaskFormsProperty(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789'\"$\\`;&|(){}<>*?#=:@/.-_~!%é€")
	word := func() string {
		var b strings.Builder
		for i, n := 0, MinSubstringSecret+rng.Intn(10); i < n; i++ {
			b.WriteRune(alphabet[rng.Intn(len(alphabet))])
		}
		return b.String()
	}
	for round := 0; round < 1000; round++ {
		var parts []string
		for i, n := 0, 1+rng.Intn(4); i < n; i++ {
			parts = append(parts, word())
		}
		secret := strings.Join(parts, " ")
		if rng.Intn(3) == 0 {
			secret = strings.Repeat(secret+" ", 1+ClipAt/len(secret)) // longer than a message shows
		}
		m := NewMasker(secret)
		// As arguments: the value split into words the way a shell would,
		// after it was quoted for one.
		args, err := SplitWords(Quote(secret))
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) > 1 && rng.Intn(2) == 0 {
			args = strings.Fields(secret) // a command built from the words
		}
		record, _ := json.Marshal(map[string]string{"reason": "the command failed: " + secret})
		stackFile, _ := yaml.Marshal(map[string]string{"DATABASE_URL": "x" + secret})
		clipped := string([]rune(secret)[:min(len([]rune(secret)), ClipAt)]) + "…"
		printed := m.Command(Command{Name: "docker", Args: append([]string{"compose", "run"}, args...)}) + "\n" +
			m.Text(string(record)) + "\n" +
			m.Text(string(stackFile)) + "\n" +
			m.Text(fmt.Sprintf("value %q is wrong", secret)) + "\n" +
			m.Text("cut: "+clipped) + "\n" +
			m.Quote(secret)
		for _, p := range parts {
			if strings.Contains(printed, p) {
				t.Fatalf("round %d: part %q of the secret printed in:\n%s", round, p, printed)
			}
			for _, form := range []string{strconv.Quote(p), string(mustJSON(p))} {
				if inner := form[1 : len(form)-1]; strings.Contains(printed, inner) {
					t.Fatalf("round %d: part %q of the secret printed as %s in:\n%s", round, p, inner, printed)
				}
			}
		}
	}
}

func mustJSON(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
