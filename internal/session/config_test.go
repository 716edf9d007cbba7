package session

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

func TestFromProcessRejectsBadDryRun(t *testing.T) {
	t.Setenv("DRY_RUN", "yes please")
	if _, err := FromProcess(); err == nil || !strings.Contains(err.Error(), `DRY_RUN="yes please": use DRY_RUN=1`) {
		t.Fatalf("err = %v", err)
	}
}

// A value that holds a secret is one, whatever its key: after
// interpolation, a committed DATABASE_URL holds the password.
func TestHoldsSecretByValue(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "docker-compose.release.yaml", "services: {}\n")
	writeFile(t, root, "docker/.env.release", "VERSION=1.0.0\nDATABASE_URL=postgres://app:${DB_PASSWORD}@db/app\nDOMAIN=example.com\n")
	// The password comes from the process (compose interpolates a file's
	// values from the process and the files read before it).
	st, err := New(Config{Root: root, Environ: []string{"DB_PASSWORD=Tr0ub4dor-and-3"}}).Open("release")
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"DATABASE_URL": true, "DB_PASSWORD": true, "DOMAIN": false, "VERSION": false} {
		if got := st.HoldsSecret(key); got != want {
			t.Errorf("HoldsSecret(%s) = %v, want %v", key, got, want)
		}
	}
	if got := st.Mask("url " + st.Env.Value("DATABASE_URL")); strings.Contains(got, "Tr0ub4dor") {
		t.Errorf("printed: %s", got)
	}
}

// DTX_TIMINGS: each command of the run appended to the file (0600), its
// secrets masked; a file that cannot be written is said once and the
// commands still run.
func TestTimingsFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(TimingsVar, filepath.Join(dir, "timings.tsv"))
	c, err := FromProcess()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	c.Stderr = &stderr
	s := New(c)
	s.AddSecrets("hunter2-value")
	for i := 0; i < 2; i++ {
		if _, err := s.run.Query(context.Background(), runner.Command{Name: "echo", Args: []string{"--pass=hunter2-value"}}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(c.Timings)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\techo --pass=****\n"); n != 2 || strings.Contains(string(b), "hunter2") {
		t.Errorf("recorded:\n%s", b)
	}
	if fi, _ := os.Stat(c.Timings); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}

	c.Timings = filepath.Join(dir, "no-such-folder", "timings.tsv")
	s = New(c)
	for i := 0; i < 2; i++ {
		if _, err := s.run.Query(context.Background(), runner.Command{Name: "true"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := stderr.String(); strings.Count(got, "DTX_TIMINGS") != 2 || strings.Count(got, "\n") != 1 || !strings.Contains(got, "no-such-folder") {
		t.Errorf("an unwritable file: said %q, want one line naming it", got)
	}
}
