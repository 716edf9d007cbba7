package images

import (
	"os"
	"path/filepath"
	"testing"
)

// A compose file that cannot declare a build is not loaded: one without
// the words build, extends and include. A word inside another word
// (includeSubDomains, rebuilds) is no build.
func TestMayBuild(t *testing.T) {
	for text, want := range map[string]bool{
		"services:\n  web:\n    build: .\n":                                                                 true,
		"services:\n  web: {build: {context: .}}\n":                                                         true,
		"services:\n  web:\n    extends: {file: base.yaml, service: x}\n":                                   true,
		"include:\n  - other.yaml\n":                                                                        true,
		"# nothing to build here\nservices: {}\n":                                                           true,
		"services:\n  web:\n    image: nginx\n    environment: {HSTS: includeSubDomains, NOTE: rebuilds}\n": false,
	} {
		if got := MayBuild([]byte(text)); got != want {
			t.Errorf("MayBuild(%q) = %v, want %v", text, got, want)
		}
	}
	for _, e := range []string{"docker-compose.release.yaml", "docker-compose.test.yaml"} {
		text, err := os.ReadFile(filepath.Join("..", "..", e))
		if err != nil {
			t.Fatal(err)
		}
		if MayBuild(text) {
			t.Errorf("%s declares no build, but would be loaded", e)
		}
	}
}
