package targets

import (
	"context"
	"errors"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 8, finding 11: Ctrl-C is how stack:logs ends, so it succeeds;
// dev:debug (attached up) keeps failing on Ctrl-C, as documented.
func TestInterruptEndsLogsCleanly(t *testing.T) {
	bin, _ := fakeDocker(t, "ok")
	started := filepath.Join(t.TempDir(), "started")
	// compose's long-running verbs run until interrupted, as the real ones do.
	docker := `#!/bin/sh
case "$*" in
  "compose version --short") echo 2.40.3 ;;
  "version --format {{.Client.Version}} {{.Server.Version}}") echo 28.2.2 20.10.24 ;;
  *" logs --follow "*|*" up --remove-orphans --menu=false") trap 'exit 130' INT; touch "` + started + `"; while :; do sleep 0.05; done ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(docker), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		run     func(context.Context, *session.Session) error
		wantErr string
	}{
		{"stack:logs", func(c context.Context, o *session.Session) error { return Logs(c, o, "debug") }, ""},
		{"dev:debug", func(c context.Context, o *session.Session) error { return Up(c, o, "debug", Existing, true) }, "stopped: context canceled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(started)
			o, _, log := options(project(t), false)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- o.Do(func(o *session.Session) error { return c.run(ctx, o) }) }()
			waitFile(t, started)
			cancel() // what mage does on Ctrl-C
			err := <-errc
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("err = %v\n%s", err, log)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
		})
	}
}

// A timeout (mage -t) is still an error for stack:logs.
func TestLogsTimeoutIsAnError(t *testing.T) {
	bin, _ := fakeDocker(t, "ok")
	docker := `#!/bin/sh
case "$*" in
  "compose version --short") echo 2.40.3 ;;
  "version --format {{.Client.Version}} {{.Server.Version}}") echo 28.2.2 20.10.24 ;;
  *" logs --follow "*) trap 'exit 130' INT; while :; do sleep 0.05; done ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(docker), 0o755); err != nil {
		t.Fatal(err)
	}
	o, _, _ := options(project(t), false)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := Logs(ctx, o, "debug"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 400; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}
