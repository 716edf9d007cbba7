package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestParseErrorsNameFileAndLineOnly(t *testing.T) {
	cases := []struct {
		name             string
		committed, local string
		want             string
		hidden           []string // must not appear in the message
	}{
		{name: "space in a .local name", local: "OK=1\nSTEAM_API_KEY sekret123\n",
			want: "docker/.env.prod.local:2: cannot parse the line: a variable name cannot contain a space", hidden: []string{"sekret123", "STEAM"}},
		{name: "space in a secret name", committed: "STEAM_API_KEY sekret123\n",
			want: "docker/.env.prod:1: cannot parse the line: a variable name cannot contain a space", hidden: []string{"sekret123"}},
		{name: "space in a plain name", committed: "# c\n\nDOMAIN example.com\n",
			want: `docker/.env.prod:3: cannot parse "DOMAIN": a variable name cannot contain a space`},
		{name: "unclosed quote names its opening line", committed: "A=1\nB=\"open\nC=2\nD=3\n",
			want: `docker/.env.prod:2: cannot parse "B": the quoted value that starts here is not closed`},
		{name: "line after a multi-line value", committed: "A=\"one\ntwo\nthree\"\nB=${\n",
			want: `docker/.env.prod:4: cannot parse "B": invalid ${…} expression`},
		{name: "required variable, message shown", committed: "A=1\nB=${X:?set X first}\n",
			want: `docker/.env.prod:2: cannot parse "B": required variable X is not set (set X first)`},
		{name: "required variable in .local, message hidden", local: "DB_URL=${DB_PASSWORD:?hunter2}\n",
			want: `docker/.env.prod.local:1: cannot parse the line: required variable DB_PASSWORD is not set: set it`, hidden: []string{"hunter2"}},
		{name: "bad character in a .local name", local: "\n\nPASS WORD=x\n",
			want: "docker/.env.prod.local:3: cannot parse the line", hidden: []string{"PASS", "WORD"}},
		{name: "CRLF lines count", committed: "A=1\r\nB=2\r\nC D\r\n",
			want: `docker/.env.prod:3: cannot parse "C"`},
		{name: "a 5 MB bad line is not echoed", committed: "A=1\n" + strings.Repeat("x", 5<<20) + " y\n",
			want: `docker/.env.prod:2: cannot parse "` + strings.Repeat("x", MaxShown) + `…": a variable name cannot contain a space`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var local *string
			if c.local != "" {
				local = &c.local
			}
			root := writeEnvFiles(t, c.committed, local)
			e, _ := LookupEnvironment("prod")
			_, err := LoadEnv(root, e, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %.300v\nwant it to contain %.300s", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") || len(err.Error()) > 400 {
				t.Errorf("not one short line: %.500q", err.Error())
			}
			for _, h := range c.hidden {
				if strings.Contains(err.Error(), h) {
					t.Errorf("error shows %q: %v", h, err)
				}
			}
		})
	}
}

// A 20,000-line file failing on its last line is read once: the bytes
// handed to compose-go's parser are at most the file's size (finding the
// line used to parse every prefix: 2 min 45 s).
func TestFindingTheBadLineIsLinear(t *testing.T) {
	for _, n := range []int{2_000, 20_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			src := strings.Repeat("KEY_WITH_A_LONG_NAME=some value # and a comment\n", n-1) + "BROKEN LINE\n"
			_, _, parsed, err := parseStatements(src, "f", false, nil, nil)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("f:%d:", n)) {
				t.Fatalf("err %v", err)
			}
			if parsed > len(src) {
				t.Fatalf("parsed %d bytes of a %d-byte file", parsed, len(src))
			}
		})
	}
}

func BenchmarkBadLineIn20000(b *testing.B) {
	src := strings.Repeat("KEY_WITH_A_LONG_NAME=some value # and a comment\n", 19_999) + "BROKEN LINE\n"
	for b.Loop() {
		if _, _, _, err := parseStatements(src, "f", false, nil, nil); err == nil {
			b.Fatal("no error")
		}
	}
}

func TestLocalFileHygiene(t *testing.T) {
	e, _ := LookupEnvironment("prod")
	cases := []struct {
		name    string
		prepare func(t *testing.T, local string)
		err     string // "" loads
		warning string
	}{
		{name: "mode 0600 is quiet", prepare: func(t *testing.T, local string) { write(t, local, "A=1\n", 0o600) }},
		{name: "mode 0644 warns", prepare: func(t *testing.T, local string) { write(t, local, "A=1\n", 0o644) },
			warning: "docker/.env.prod.local is open to group or others (mode 0644) and holds secrets: chmod 600 docker/.env.prod.local"},
		{name: "mode 0660 warns", prepare: func(t *testing.T, local string) { write(t, local, "A=1\n", 0o660) },
			warning: "chmod 600 docker/.env.prod.local"},
		{name: "symbolic link refused", prepare: func(t *testing.T, local string) {
			target := filepath.Join(t.TempDir(), "shadow")
			write(t, target, "root:$6$salt$hash:19000:0:99999:7:::\n", 0o600)
			symlink(t, target, local)
		}, err: "docker/.env.prod.local is a symbolic link: the tool does not follow a .local file"},
		{name: "dangling link refused", prepare: func(t *testing.T, local string) { symlink(t, "/nonexistent/x", local) },
			err: "docker/.env.prod.local is a symbolic link"},
		{name: "FIFO refused without hanging", prepare: func(t *testing.T, local string) {
			if err := syscall.Mkfifo(local, 0o600); err != nil {
				t.Skip(err)
			}
		}, err: "docker/.env.prod.local is not a regular file (a named pipe)"},
		{name: "directory refused", prepare: func(t *testing.T, local string) { os.Mkdir(local, 0o700) },
			err: "docker/.env.prod.local is not a regular file (a directory)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := writeEnvFiles(t, "A=0\n", nil)
			c.prepare(t, filepath.Join(root, e.LocalEnvFile()))
			done := make(chan struct{})
			var env *Env
			var err error
			go func() { env, err = LoadEnv(root, e, nil); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("LoadEnv hangs")
			}
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				if strings.Contains(err.Error(), "root:") {
					t.Fatalf("error shows the target's content: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := strings.Join(env.Warnings(), "\n")
			if (c.warning == "") != (w == "") || !strings.Contains(w, c.warning) {
				t.Fatalf("warnings %q, want %q", w, c.warning)
			}
		})
	}
}

// The committed file may be a link (to a shared file), but not a FIFO.
func TestCommittedFileMayBeALinkNotAFIFO(t *testing.T) {
	e, _ := LookupEnvironment("prod")
	root := writeEnvFiles(t, "", nil)
	committed := filepath.Join(root, e.EnvFile)
	os.Remove(committed)
	shared := filepath.Join(t.TempDir(), "shared.env")
	write(t, shared, "DOMAIN=shared.example\n", 0o644)
	symlink(t, shared, committed)
	if env, err := LoadEnv(root, e, nil); err != nil || env.Value("DOMAIN") != "shared.example" {
		t.Fatalf("%v %v", env, err)
	}
	os.Remove(committed)
	if err := syscall.Mkfifo(committed, 0o644); err != nil {
		t.Skip(err)
	}
	if _, err := LoadEnv(root, e, nil); err == nil || !strings.Contains(err.Error(), "docker/.env.prod is not a regular file (a named pipe)") {
		t.Fatalf("err %v", err)
	}
}

func TestVersion(t *testing.T) {
	cases := []struct {
		version, err string // err "" accepts
	}{
		{"1.2.3", ""}, {"1.2.3-rc.1", ""},
		{"v1.2.3", `VERSION="v1.2.3" (from docker/.env.prod) is not a version: drop the leading v (1.2.3); VERSION is the images' tag, the git tag adds the v`},
		{"1.2.3+build.5", `VERSION="1.2.3+build.5" (from docker/.env.prod) has build metadata (+build.5): + is not valid in an image tag`},
		{"1.2.3-rc.1+b", "has build metadata (+b)"},
		{"1.2", "is not a semantic version"}, {"latest", "is not a semantic version"},
		{"1.2.3.4", "is not a semantic version"}, {"1.2.3+", "is not a semantic version"},
		{"", "VERSION is not set"},
		{strings.Repeat("9", 200), `VERSION="` + strings.Repeat("9", MaxShown) + `…" (from`},
	}
	for _, c := range cases {
		t.Run(c.version, func(t *testing.T) {
			env, err := load(t, map[string]string{"docker/.env.prod": "VERSION=" + c.version + "\n"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = env.Version()
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("err %v, want %q", err, c.err)
			}
		})
	}
	t.Run("from .local the value is not shown", func(t *testing.T) {
		env, _ := load(t, map[string]string{"docker/.env.prod": "", "docker/.env.prod.local": "VERSION=sekret123\n"}, nil)
		if _, err := env.Version(); err == nil || strings.Contains(err.Error(), "sekret123") || !strings.Contains(err.Error(), "VERSION (from docker/.env.prod.local) is not a semantic version") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestClip(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("a", MaxShown), strings.Repeat("a", MaxShown)},
		{strings.Repeat("a", MaxShown+1), strings.Repeat("a", MaxShown) + "…"},
		{strings.Repeat("é", 100), strings.Repeat("é", MaxShown) + "…"},
	} {
		t.Run(fmt.Sprint(len(c.in)), func(t *testing.T) {
			if got := Clip(c.in); got != c.want {
				t.Fatalf("Clip = %q", got)
			}
		})
	}
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// Whatever compose-go makes of a .local line is a secret: a last word
// without = or newline becomes the value of the key "".
func TestEveryLocalValueIsSecret(t *testing.T) {
	cases := []struct{ name, local, secret string }{
		{"plain", "A=plain-value\n", "plain-value"},
		{"interpolated", "B=x\nURL=https://u:${B}@h\n", "https://u:x@h"},
		{"last word", "A=1\nsekret", "sekret"},
		{"overridden by the process", "DOMAIN=local.example\n", "process.example"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := load(t, map[string]string{"docker/.env.prod": "", "docker/.env.prod.local": c.local}, map[string]string{"DOMAIN": "process.example"})
			if err != nil {
				t.Fatal(err)
			}
			if secrets := env.Secrets(nil); !slices.Contains(secrets, c.secret) {
				t.Fatalf("%q not among the secrets %q", c.secret, secrets)
			}
		})
	}
}

// An unset variable is empty, as for compose, without compose-go's
// "variable is not set" warning on stderr at every load.
func TestUnsetVariableIsQuiet(t *testing.T) {
	var stderr strings.Builder
	logrus.SetOutput(&stderr)
	env, err := load(t, map[string]string{"docker/.env.prod": "DOMAIN=${SITE}\n"}, nil)
	if err != nil || env.Value("DOMAIN") != "" {
		t.Fatalf("%v %q", err, env.Value("DOMAIN"))
	}
	if stderr.Len() > 0 {
		t.Fatalf("printed %q", stderr.String())
	}
}
