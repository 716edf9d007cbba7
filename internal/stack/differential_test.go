package stack

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/sirupsen/logrus"
)

// composeEnvironment is what compose-go computes as a project's environment
// from committed and local env files and environ, through the same project
// loading internal/compose does (and docker compose does): --env-file
// files, then the process environment over them.
func composeEnvironment(t testing.TB, root string, e Environment, environ []string) (map[string]string, error) {
	t.Helper()
	logrus.SetOutput(io.Discard)
	compose := filepath.Join(root, "compose.yaml")
	if err := os.WriteFile(compose, []byte("services:\n  app:\n    image: busybox\n    env_file:\n      - path: "+e.EnvFile+"\n      - path: "+e.LocalEnvFile()+"\n        required: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, e.EnvFile)}
	if _, err := os.Lstat(filepath.Join(root, e.LocalEnvFile())); err == nil {
		files = append(files, filepath.Join(root, e.LocalEnvFile()))
	}
	opts, err := cli.NewProjectOptions([]string{compose},
		cli.WithWorkingDirectory(root),
		cli.WithName("differential"),
		cli.WithEnv(environ),
		cli.WithEnvFiles(files...),
		cli.WithDotEnv,
		cli.WithInterpolation(true),
	)
	if err != nil {
		return nil, err
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return nil, err
	}
	return project.Environment, nil
}

// writeEnvFiles writes the committed and (when not nil) the local env file
// of the prod environment under a new root.
func writeEnvFiles(t testing.TB, committed string, local *string) string {
	t.Helper()
	root := t.TempDir()
	e, _ := LookupEnvironment("prod")
	if err := os.MkdirAll(filepath.Join(root, "docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, e.EnvFile), []byte(committed), 0o644); err != nil {
		t.Fatal(err)
	}
	if local != nil {
		if err := os.WriteFile(filepath.Join(root, e.LocalEnvFile()), []byte(*local), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// sameAsCompose fails when the tool's reading of the files differs from
// compose-go's for any key, or one of them refuses what the other reads.
func sameAsCompose(t testing.TB, committed string, local *string, environ []string) {
	t.Helper()
	root := writeEnvFiles(t, committed, local)
	e, _ := LookupEnvironment("prod")
	want, composeErr := composeEnvironment(t, root, e, environ)
	env, err := LoadEnv(root, e, environ)
	if (err != nil) != (composeErr != nil) {
		t.Fatalf("the tool says %v, compose-go says %v", err, composeErr)
	}
	if err != nil {
		return
	}
	// Both ways: the keys the tool knows (those the files set, and the
	// process's) are compose-go's, no more and no fewer; then each value.
	// "" is left out on both sides: compose-go sets it for a last line
	// without = or newline, and Keys leaves it out (no service can take it).
	var composeKeys []string
	for k := range want {
		if k != "COMPOSE_PROJECT_NAME" && k != "" { // the loader adds the project's name
			composeKeys = append(composeKeys, k)
		}
	}
	slices.Sort(composeKeys)
	toolKeys := env.Keys()
	for k := range environMap(environ) {
		toolKeys = append(toolKeys, k)
	}
	slices.Sort(toolKeys)
	toolKeys = slices.Compact(toolKeys)
	if !slices.Equal(toolKeys, composeKeys) {
		t.Errorf("keys: the tool has %q (the files' %q and the process's), compose-go %q", toolKeys, env.Keys(), composeKeys)
	}
	for k, v := range want {
		if k == "COMPOSE_PROJECT_NAME" {
			continue
		}
		if got, ok := env.Get(k); !ok || got != v {
			t.Errorf("%q: the tool has %q (set %v), compose-go %q", k, got, ok, v)
		}
	}
}

func ptr(s string) *string { return &s }

// The corpus: each case of issue 8 and the corners of the format.
var differentialCases = []struct {
	name             string
	committed        string
	local            *string
	environ          []string
	key, want, where string // one value spelled out, for the reader
}{
	{name: "default when unset", committed: "REGISTRY=${REG:-ghcr.io/acme/site}\n", key: "REGISTRY", want: "ghcr.io/acme/site"},
	{name: "default overridden by the process", committed: "REGISTRY=${REG:-ghcr.io/acme/site}\n", environ: []string{"REG=127.0.0.1:5000/x"}, key: "REGISTRY", want: "127.0.0.1:5000/x"},
	{name: "process variable", committed: "DATA=${HOME}/data\n", environ: []string{"HOME=/home/op"}, key: "DATA", want: "/home/op/data"},
	{name: "variable of the earlier file", committed: "BASE=example.com\n", local: ptr("DOMAIN=www.${BASE}\n"), key: "DOMAIN", want: "www.example.com", where: "docker/.env.prod.local"},
	{name: "domain from the process", committed: "DOMAIN=${SITE}\n", environ: []string{"SITE=example.com"}, key: "DOMAIN", want: "example.com"},
	{name: "variable unset is empty", committed: "DOMAIN=${SITE}\n", key: "DOMAIN", want: ""},
	{name: "double-quoted tab", committed: "A=\"a\\tb\"\n", key: "A", want: "a\tb"},
	{name: "single-quoted escaped quote", committed: "A='it\\'s'\n", key: "A", want: "it's"},
	{name: "single quotes do not interpolate", committed: "A='${HOME}'\n", environ: []string{"HOME=/root"}, key: "A", want: "${HOME}"},
	{name: "tab before #", committed: "A=value\t# comment\n", key: "A", want: "value\t# comment"},
	{name: "space before #", committed: "A=value # comment\n", key: "A", want: "value"},
	{name: "# inside a word", committed: "A=a#b\n", key: "A", want: "a#b"},
	{name: "quoted then junk", committed: "A=\"a\"junk\nB=2\n", environ: []string{"junk=J"}, key: "A", want: "a"},
	{name: "dollar escapes", committed: "A=\"\\$HOME $$HOME\"\nB=$$x\n", environ: []string{"HOME=/root"}, key: "A", want: "$HOME $HOME"},
	{name: "escapes in double quotes", committed: "A=\"line\\nnext \\\\ \\\" \\0101\"\n", key: "A", want: "line\nnext \\ \" A"},
	{name: "escapes unquoted stay", committed: "A=a\\nb\n", key: "A", want: "a\\nb"},
	{name: "CRLF", committed: "A=1\r\nB=\"two\"\r\n# c\r\nC=three # c\r\n", key: "B", want: "two"},
	{name: "BOM", committed: "\uFEFFA=1\nB=2\n", key: "A", want: "1"},
	{name: "export", committed: "export A=1\nexport  B=\"2\"\n", key: "B", want: "2"},
	{name: "duplicates", committed: "A=1\nB=${A}\nA=2\nC=${A}\n", key: "C", want: "2"},
	{name: "duplicates across files", committed: "A=1\nB=b\n", local: ptr("A=2\nC=${A}${B}\n"), key: "C", want: "2b", where: "docker/.env.prod.local"},
	{name: "process wins over both files", committed: "A=1\n", local: ptr("A=2\nB=${A}\n"), environ: []string{"A=3"}, key: "B", want: "3"},
	{name: "multi-line double quotes", committed: "A=\"one\ntwo\"\nB=3\n", key: "A", want: "one\ntwo"},
	{name: "yaml-style colon", committed: "A: b\n", key: "A", want: "b"},
	{name: "bare key from the process", committed: "A\nB=1\n", environ: []string{"A=from-process"}, key: "A", want: "from-process"},
	{name: "bare key unset", committed: "A\nB=1\n", key: "B", want: "1"},
	{name: "empty values", committed: "A=\nB=\"\"\nC=''\n", key: "B", want: ""},
	{name: "nested defaults", committed: "A=${X:-${Y:-deep}}\n", key: "A", want: "deep"},
	{name: "alternate value", committed: "A=1\nB=${A:+set}\n", key: "B", want: "set"},
	{name: "self reference", committed: "PATH=${PATH}:/opt/bin\n", environ: []string{"PATH=/bin"}, key: "PATH", want: "/bin"},
	{name: "unicode", committed: "NAMÉ=ünï\nA=\"日本\"\n", key: "A", want: "日本"},
	{name: "dots and dashes", committed: "a.b-c[0]=1\n", key: "a.b-c[0]", want: "1"},
	{name: "no final newline", committed: "A=1\nB=2", key: "B", want: "2"},
	{name: "bare word at the end", committed: "A=1\nword", key: "A", want: "1"},
	{name: "spaces around", committed: "  A =  spaced  \n\t\tB=\t'x'\n", key: "A", want: "spaced"},
	{name: "comments and blank lines", committed: "# top\n\n   # indented\nA=1\n\n", key: "A", want: "1"},
	{name: "required and set", committed: "A=1\nB=${A:?A is needed}\n", key: "B", want: "1"},
	{name: "required and missing", committed: "B=${A:?A is needed}\n"},
	{name: "unclosed quote", committed: "A=\"open\nB=2\n"},
	{name: "space in name", committed: "STEAM_API_KEY sekret123\n"},
	{name: "bad character in name", committed: "A$B=1\n"},
	{name: "invalid template", committed: "A=${B\n"},
	{name: "export alone", committed: "A=1\nexport "},
}

func TestEnvFilesReadAsComposeReadsThem(t *testing.T) {
	for _, c := range differentialCases {
		t.Run(c.name, func(t *testing.T) {
			sameAsCompose(t, c.committed, c.local, c.environ)
			if c.key == "" {
				return
			}
			root := writeEnvFiles(t, c.committed, c.local)
			e, _ := LookupEnvironment("prod")
			env, err := LoadEnv(root, e, c.environ)
			if err != nil {
				t.Fatal(err)
			}
			if got := env.Value(c.key); got != c.want {
				t.Errorf("%s = %q, want %q", c.key, got, c.want)
			}
			if c.where != "" && env.Source(c.key) != c.where {
				t.Errorf("%s comes from %s, want %s", c.key, env.Source(c.key), c.where)
			}
		})
	}
}

// The statement cutter finds the same values and the same errors as
// compose-go parsing the whole file, for one file on its own.
func statementsAgree(t testing.TB, src string, process map[string]string) {
	t.Helper()
	want, wantErr := dotenv.ParseWithLookup(strings.NewReader(src), func(k string) (string, bool) { v, ok := process[k]; return v, ok })
	_, got, parsed, err := parseStatements(src, "f", false, process, nil)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("statements: %v; compose-go: %v", err, wantErr)
	}
	if parsed > len(src) {
		t.Fatalf("handed %d bytes to the parser for a %d-byte file", parsed, len(src))
	}
	if err != nil {
		return
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statements: %q\ncompose-go: %q", got, want)
	}
}

func TestStatementsAgreeWithCompose(t *testing.T) {
	for _, c := range differentialCases {
		t.Run(c.name, func(t *testing.T) {
			statementsAgree(t, c.committed, environMap(c.environ))
			if c.local != nil {
				statementsAgree(t, *c.local, environMap(c.environ))
			}
		})
	}
}

// FuzzEnvMatchesCompose holds the tool's reading of two env files to
// compose-go's project environment, and the statement cutter (which finds
// the failing line) to compose-go's parser. The seed corpus is the table
// above and testdata/fuzz/FuzzEnvMatchesCompose.
func FuzzEnvMatchesCompose(f *testing.F) {
	for _, c := range differentialCases {
		local := ""
		if c.local != nil {
			local = *c.local
		}
		f.Add(c.committed, local, "v")
	}
	f.Fuzz(func(t *testing.T, committed, local, value string) {
		if strings.Count(committed+local, "$") > 12 {
			// A=${A}${A} on n lines is 2^n bytes, for compose as for the
			// tool: the fuzzer would only measure memory.
			t.Skip()
		}
		environ := []string{"HOME=/home/op", "REG=" + value, "A=" + value}
		statementsAgree(t, committed, environMap(environ))
		statementsAgree(t, local, environMap(environ))
		sameAsCompose(t, committed, &local, environ)
	})
}
