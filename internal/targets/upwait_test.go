package targets

import (
	"context"
	"errors"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unhealthyDocker puts first on PATH a docker whose `compose … up` fails as
// `up --wait` does when a service never becomes healthy, whose `compose …
// ps --all --format json` answers ps (one JSON object per line, as compose
// prints it), and whose `compose … logs` prints a line naming the service.
// It records every call. A real stack whose service never becomes healthy
// takes the 120 s wait; the end-to-end suite has its own.
func unhealthyDocker(t *testing.T, ps string) (calls string) {
	t.Helper()
	bin := t.TempDir()
	calls = filepath.Join(bin, "calls")
	if err := os.WriteFile(filepath.Join(bin, "ps.json"), []byte(ps), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
echo "docker $*" >> "` + calls + `"
case "$*" in
  *" up --detach --wait "*) echo "dependency failed to start: container dtx-prod-backend-1 is unhealthy" >&2; exit 1 ;;
  *" ps --all --format json") cat "` + filepath.Join(bin, "ps.json") + `" ;;
  *" logs --no-color --tail 20 "*) for a; do svc=$a; done; echo "$svc-1  | the last words of $svc" ;;
  "inspect --format {{range .State.Health.Log}}{{println .Output}}{{end}} c0ffee") printf 'redis: connection refused\n\nbackend: redis does not answer\n' ;;
  "version --format {{.Server.Version}}") echo 20.10.24 ;;
  "compose version --short") echo 2.40.3 ;;
  --version) echo "Docker version 28.2.2, build e6534b4" ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return calls
}

// When `up --wait` fails, the tool names the services that are not
// healthy, shows the end of their logs, says what to run next, and exits
// with compose's status.
func TestUpWaitFailureNamesTheServices(t *testing.T) {
	const (
		backendUnhealthy = `{"ID":"c0ffee","Service":"backend","State":"running","Health":"unhealthy","ExitCode":0}`
		frontendExited   = `{"Service":"frontend","State":"exited","Health":"","ExitCode":3}`
		nginxCreated     = `{"Service":"nginx","State":"created","Health":"","ExitCode":0}`
		redisHealthy     = `{"Service":"redis","State":"running","Health":"healthy","ExitCode":0}`
	)
	cases := []struct {
		name     string
		ps       string
		want     string   // the error line
		logs     []string // services whose logs are shown
		notShown []string // services whose logs are not
		health   string   // the health check's last line, shown
	}{
		{name: "one unhealthy, one exited, one never started",
			ps:       strings.Join([]string{backendUnhealthy, frontendExited, nginxCreated, redisHealthy}, "\n") + "\n",
			want:     "the prod stack did not become healthy: backend (unhealthy), frontend (exited with 3), nginx (created); ./dtx stack:logs prod follows its logs, ./dtx stack:down prod stops it",
			logs:     []string{"backend", "frontend", "nginx"},
			notShown: []string{"redis"},
			health:   "backend: its last health check said: backend: redis does not answer"},
		{name: "compose before 2.21 answers one array",
			ps:       "[" + backendUnhealthy + "," + redisHealthy + "]\n",
			want:     "the prod stack did not become healthy: backend (unhealthy); ./dtx stack:logs prod",
			logs:     []string{"backend"},
			notShown: []string{"redis"}},
		{name: "no container at all: compose's error and the next command",
			ps:   "",
			want: "docker compose --project-name dtx-prod -f docker-compose.prod.yaml -f docker/.env.prod.compose.yaml --env-file docker/.env.prod up --detach --wait --wait-timeout 120 --remove-orphans: exit status 1; ./dtx stack:logs prod follows its logs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := unhealthyDocker(t, c.ps)
			o, out, log := options(project(t), false)
			err := o.Do(func(o *session.Session) error { return Up(context.Background(), o, "prod", Existing, false) })
			if err == nil {
				t.Fatal("up succeeded")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error\n%s\nwant one line containing\n%s", err, c.want)
			}
			var status interface{ ExitStatus() int }
			if !errors.As(err, &status) || status.ExitStatus() != 1 {
				t.Errorf("the error does not carry compose's exit status 1: %v", err)
			}
			data, _ := os.ReadFile(calls)
			for _, svc := range c.logs {
				if !strings.Contains(string(data), "compose --project-name dtx-prod -f docker-compose.prod.yaml -f docker/.env.prod.compose.yaml --env-file docker/.env.prod logs --no-color --tail 20 "+svc+"\n") {
					t.Errorf("no logs of %s asked for:\n%s", svc, data)
				}
				if !strings.Contains(out.String(), "the last words of "+svc) {
					t.Errorf("the logs of %s are not shown:\n%s", svc, out)
				}
				if !strings.Contains(log.String(), "+ docker compose --project-name dtx-prod -f docker-compose.prod.yaml -f docker/.env.prod.compose.yaml --env-file docker/.env.prod logs --no-color --tail 20 "+svc) {
					t.Errorf("the logs command of %s is not printed:\n%s", svc, log)
				}
			}
			if c.health != "" && !strings.Contains(log.String(), c.health+"\n") {
				t.Errorf("the health check's last line is not shown, want %q:\n%s", c.health, log)
			}
			for _, svc := range c.notShown {
				if strings.Contains(string(data), "--tail 20 "+svc) {
					t.Errorf("logs of healthy %s asked for", svc)
				}
			}
		})
	}
}
