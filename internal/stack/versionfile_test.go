package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

const releaseEnv = `# Release stack: committed defaults.
# VERSION tags the images.
VERSION=0.1.0
DOMAIN=dota.kettle.sh
# a comment after
DEBUG=0
`

func TestSetVersionKeepsEverythingElse(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"plain", releaseEnv, strings.Replace(releaseEnv, "VERSION=0.1.0", "VERSION=1.4.2", 1)},
		{"double quotes and a comment", "A=1\nVERSION=\"0.1.0\" # the release\nB=2\n", "A=1\nVERSION=\"1.4.2\" # the release\nB=2\n"},
		{"single quotes", "VERSION='0.1.0'\n", "VERSION='1.4.2'\n"},
		{"export and blanks", "  export VERSION = 0.1.0 # x\n", "  export VERSION = 1.4.2 # x\n"},
		{"CRLF", "A=1\r\nVERSION=0.1.0\r\n", "A=1\r\nVERSION=1.4.2\r\n"},
		{"the last of duplicates wins, so it is the one edited", "VERSION=0.0.1\nVERSION=0.1.0\n", "VERSION=0.0.1\nVERSION=1.4.2\n"},
		{"a VERSION in a comment is not a setting", "# VERSION=9.9.9\nA=1\n", "# VERSION=9.9.9\nA=1\nVERSION=1.4.2\n"},
		{"appended without a final newline", "A=1", "A=1\nVERSION=1.4.2\n"},
		{"other keys ending in VERSION stay", "NODE_VERSION=20\nVERSION=0.1.0\n", "NODE_VERSION=20\nVERSION=1.4.2\n"},
		// A line inside another value's quotes is that value, not a
		// statement: compose reads VERSION from the real one.
		{"a VERSION line inside a multi-line value", "VERSION=0.1.0\nNOTES=\"line one\nVERSION=6.6.6\n\"\n", "VERSION=1.4.2\nNOTES=\"line one\nVERSION=6.6.6\n\"\n"},
		{"a colon, as compose allows", "VERSION: 0.1.0\n", "VERSION: 1.4.2\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := string(SetVersion([]byte(c.in), "1.4.2"))
			if got != c.want {
				t.Fatalf("got\n%q\nwant\n%q", got, c.want)
			}
			if v, ok := FileVersion([]byte(got)); !ok || v != "1.4.2" {
				t.Errorf("FileVersion reads %q, %v back", v, ok)
			}
		})
	}
}

// What SetVersion writes is what compose then reads as VERSION.
func TestSetVersionIsWhatComposeReads(t *testing.T) {
	for _, in := range []string{releaseEnv, "VERSION=0.1.0\nNOTES=\"a\nVERSION=6.6.6\n\"\n", "export VERSION='0.1.0' # x\n", "A=1"} {
		out := SetVersion([]byte(in), "2.3.4")
		path := filepath.Join(t.TempDir(), ".env")
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		env, err := dotenv.GetEnvFromFile(nil, []string{path})
		if err != nil {
			t.Fatal(err)
		}
		if env["VERSION"] != "2.3.4" {
			t.Errorf("compose reads VERSION=%q from\n%s", env["VERSION"], out)
		}
		if strings.Count(string(out), "2.3.4") != 1 {
			t.Errorf("written more than once:\n%s", out)
		}
	}
}
