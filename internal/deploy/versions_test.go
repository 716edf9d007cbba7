package deploy

import (
	"strings"
	"testing"
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

func TestBump(t *testing.T) {
	for _, c := range []struct{ v, part, want string }{
		{"0.1.0", "patch", "0.1.1"},
		{"0.1.9", "minor", "0.2.0"},
		{"1.2.3", "major", "2.0.0"},
		{"1.3.0-rc.1", "patch", "1.3.1"},
	} {
		t.Run(c.v+"/"+c.part, func(t *testing.T) {
			if got, err := Bump(c.v, c.part); err != nil || got != c.want {
				t.Errorf("Bump(%s, %s) = %s, %v; want %s", c.v, c.part, got, err, c.want)
			}
		})
	}
	for _, c := range []struct{ v, part string }{{"1.2.3", "micro"}, {"1.2", "patch"}, {"v1.2.3", "patch"}} {
		if _, err := Bump(c.v, c.part); err == nil {
			t.Errorf("Bump(%s, %s) accepted", c.v, c.part)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"1.2.3": true, "0.0.1": true, "1.2.3-rc.1": true,
		"1.2": false, "v1.2.3": false, "1.2.3+build.5": false, "": false, "1.2.3.4": false, "01.2.3": false, "latest": false,
	} {
		if err := CheckVersion(v); (err == nil) != ok {
			t.Errorf("CheckVersion(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}
