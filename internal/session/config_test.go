package session

import (
	"strings"
	"testing"
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
