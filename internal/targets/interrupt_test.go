package targets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// Ctrl-C is how stack:logs ends, so it succeeds; the context ending (mage
// -t, or Ctrl-C on a target that does not catch it) is still an error for
// the attached up.
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

// Ctrl-C on dev:debug is its documented end: the tool passes it to compose
// (which stops the containers), says so in one line and succeeds; a second
// Ctrl-C is passed on too (compose then forces).
func TestCtrlCEndsTheAttachedStackCleanly(t *testing.T) {
	bin, _ := fakeDocker(t, "ok")
	dir := t.TempDir()
	// compose's attached up: the first SIGINT starts a graceful stop that
	// takes a while, a second one forces it.
	docker := `#!/bin/sh
case "$*" in
  *" up --remove-orphans --menu=false")
    n=0
    trap 'n=$((n+1)); echo "$n" > "` + dir + `/ints"; [ $n -ge 2 ] && exit 130' INT
    touch "` + dir + `/started"
    while :; do sleep 0.05; done ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(docker), 0o755); err != nil {
		t.Fatal(err)
	}
	o, _, log := options(project(t), false)
	errc := make(chan error, 1)
	go func() { errc <- Up(context.Background(), o, "debug", Existing, true) }()
	waitFile(t, filepath.Join(dir, "started"))
	for i := 1; i <= 2; i++ {
		syscall.Kill(os.Getpid(), syscall.SIGINT) // the terminal's Ctrl-C
		for deadline := time.Now().Add(5 * time.Second); ; {
			if got, _ := os.ReadFile(filepath.Join(dir, "ints")); strings.TrimSpace(string(got)) == string(rune('0'+i)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("compose did not get Ctrl-C number %d", i)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("err = %v\n%s", err, log)
	}
	if !strings.Contains(log.String(), "stopped the debug stack; ./dtx stack:down debug removes it\n") {
		t.Fatalf("log:\n%s", log)
	}
}

func TestChangedDependencyFiles(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	before := map[string]stamp{"frontend/package.json": {t0, 10}, "backend/requirements.txt": {t0, 5}, "frontend/Dockerfile": {t0, 7}}
	after := map[string]stamp{"frontend/package.json": {t0.Add(time.Second), 10}, "frontend/Dockerfile": {t0, 7}, "backend/pyproject.toml": {t0, 1}}
	got := strings.Join(changedFiles(before, after), " ")
	if want := "backend/pyproject.toml backend/requirements.txt frontend/package.json"; got != want {
		t.Fatalf("changed %q, want %q", got, want)
	}
	if c := changedFiles(after, after); len(c) != 0 {
		t.Fatalf("unchanged files reported: %v", c)
	}
}
