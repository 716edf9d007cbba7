package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/browsertest"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

var repoRoot, _ = filepath.Abs("../..")

// cache is the launcher cache the tests share, empty at the start: the
// first invocation builds, as on a fresh machine with a warm Go cache.
var cache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dtx-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// clone is a fresh git clone of the repository, with the working tree's
// uncommitted changes copied over so that they are what is tested.
func clone(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "site")
	git(t, repoRoot, "clone", "--quiet", repoRoot, dir)
	for _, rel := range strings.Split(git(t, repoRoot, "ls-files", "--modified", "--others", "--exclude-standard"), "\n") {
		if rel == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if errors.Is(err, os.ErrNotExist) { // deleted
			os.Remove(filepath.Join(dir, rel))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(filepath.Join(repoRoot, rel))
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// environ is the process environment for ./dtx: the shared launcher cache
// (XDG_CACHE_HOME), but the user's Go build cache, which would otherwise
// follow XDG_CACHE_HOME and make every test a cold build.
func environ(t *testing.T, extra ...string) []string {
	t.Helper()
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "DRY_RUN" && k != "DOCKER_HOST" && k != "XDG_CACHE_HOME" && k != "GOCACHE" {
			env = append(env, kv)
		}
	}
	env = append(env, "XDG_CACHE_HOME="+cache, "GOCACHE="+strings.TrimSpace(string(gocache)))
	return append(env, extra...)
}

// dtx runs ./dtx in dir and returns its stdout, stderr and exit status.
func dtx(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command("./dtx", args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("./dtx %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// Eight invocations at once, three rounds, in a fresh clone with nothing
// built: all succeed; a change under internal/ shows in the very next
// invocation; and no run leaves a file in the checkout.
func TestConcurrentInvocations(t *testing.T) {
	dir := clone(t)
	status := git(t, dir, "status", "--ignored", "--porcelain")
	env := environ(t, "DRY_RUN=1")
	const want = "[dry-run] docker compose --project-name dtx-debug -f docker-compose.debug.yaml --env-file docker/.env.dev ps"
	ok := 0
	for round := 1; round <= 3; round++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command("./dtx", "stack:ps", "debug")
				cmd.Dir, cmd.Env = dir, env
				out, err := cmd.CombinedOutput()
				mu.Lock()
				defer mu.Unlock()
				if err != nil || !strings.Contains(string(out), want) {
					t.Errorf("round %d: %v\n%s", round, err, out)
					return
				}
				ok++
			}()
		}
		wg.Wait()
	}
	if ok != 24 {
		t.Fatalf("%d of 24 invocations succeeded", ok)
	}
	if after := git(t, dir, "status", "--ignored", "--porcelain"); after != status {
		t.Fatalf("the runs changed the checkout:\n%s\nbefore:\n%s", after, status)
	}

	// A new file under internal/, then an edit of it: each shows at once.
	probe := filepath.Join(dir, "internal/targets/zz_probe.go")
	for _, mark := range []string{"first change", "second change"} {
		src := fmt.Sprintf("package targets\n\nimport \"os\"\n\nfunc init() { os.Stderr.WriteString(%q + \"\\n\") }\n", "probe: "+mark)
		if err := os.WriteFile(probe, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := dtx(t, dir, env, "stack:ps", "debug")
		if code != 0 || !strings.Contains(stderr, "probe: "+mark+"\n") {
			t.Fatalf("after the %s (exit %d), the next run does not show it:\n%s", mark, code, stderr)
		}
		if !strings.Contains(stderr, "dtx: the Go sources changed: building the tool again…") {
			t.Errorf("the rebuild is not announced:\n%s", stderr)
		}
	}
	os.Remove(probe)
	if after := git(t, dir, "status", "--ignored", "--porcelain"); after != status {
		t.Fatalf("the rebuilds changed the checkout:\n%s\nbefore:\n%s", after, status)
	}
}

// The bash completion offers the targets, with their namespace colon, and
// the environments.
func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	dir := clone(t)
	env := environ(t)
	script, _, code := dtx(t, dir, env, "-completion", "bash")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	cases := []struct{ line, want string }{
		{"./dtx stack:p", "ps"},
		{"./dtx sta", "stack:down stack:exec stack:logs stack:ps stack:up"},
		{"./dtx ch", "check"},
		{"./dtx stack:ps ", "debug prod release test"},
		{"./dtx -v stack:exec d", "debug"},
		{"./dtx -", "-l -h -v -t -completion"},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			cmd := exec.Command("bash", "-c", script+`
COMP_LINE=$1 COMP_POINT=${#1} _dtx
echo "${COMPREPLY[*]}"`, "bash", c.line)
			cmd.Dir, cmd.Env = dir, env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			got := strings.Join(strings.Fields(string(out)), " ")
			if got != c.want {
				t.Fatalf("completes %q, want %q", got, c.want)
			}
		})
	}
}

// A target whose command fails ends with that command's exit status,
// through the real launcher and mage binary. docker and certbot are fakes
// that answer the probes and exit 7 otherwise: no real engine or certbot
// can be made to fail with a chosen status on demand.
func TestExitStatus(t *testing.T) {
	dir := clone(t)
	bin := t.TempDir()
	fakes := map[string]string{
		"docker": `case "$*" in
"compose version"*) echo 2.40.3 ;;
version*) echo 28.2.2 28.2.2 ;;
*"ps --status running --services") echo nginx ;;
*) echo "fake docker fails" >&2; exit 7 ;;
esac`,
		"certbot": `case "$*" in
--version) echo certbot 2.1.0 ;;
*) echo "fake certbot fails" >&2; exit 7 ;;
esac`,
	}
	for name, body := range fakes {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := environ(t, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	cases := []struct {
		args []string
		want int
	}{
		{[]string{"stack:ps", "debug"}, 7},
		{[]string{"stack:down", "test"}, 7},
		{[]string{"stack:exec", "debug", "backend", "true"}, 7},
		{[]string{"docker:push", "-only=nginx"}, 7},
		{[]string{"prod:certbot"}, 7},
		{[]string{"prod:renew"}, 7},
		{[]string{"stack:ps", "staging"}, 1}, // bad input: no command ran
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, stderr, code := dtx(t, dir, env, c.args...)
			if code != c.want {
				t.Fatalf("exit %d, want %d:\n%s", code, c.want, stderr)
			}
		})
	}
}

// -h of each target names the values it accepts (from internal/stack, so
// the help cannot drift from the data) and the variables it reads; -l's
// header speaks to users.
func TestHelp(t *testing.T) {
	dir := clone(t)
	env := environ(t)
	list, _, code := dtx(t, dir, env, "-l")
	if code != 0 || !strings.Contains(list, "./dtx -h TARGET") || strings.Contains(list, "internal/") {
		t.Fatalf("-l (exit %d):\n%s", code, list)
	}
	var images []string
	for _, img := range stack.Images {
		images = append(images, img.Name)
	}
	envs := stack.EnvironmentNames()
	want := map[string][]string{
		"check":         {"DOCKER_HOST", "runtime", "runtime-dev"},
		"docker:build":  append([]string{"-only", "VERSION", "REGISTRY", stack.DefaultRegistry, "NGINX_BASE_IMAGE", "DRY_RUN"}, images...),
		"docker:push":   append([]string{"-only", "VERSION", "REGISTRY", "DRY_RUN"}, images...),
		"docker:pull":   append([]string{"-only", "VERSION", "REGISTRY", "DRY_RUN"}, images...),
		"dev:debug":     {"docker/.env.dev", "DOMAIN", "HTTPS_PORT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"dev:test":      {"docker/.env.test", "DOMAIN", "HTTPS_PORT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"dev:prod":      {"docker/.env.prod", "DOMAIN", "HTTPS_PORT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"dev:release":   {"docker/.env.release", "VERSION", "REGISTRY", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"prod:certbot":  {"DOMAIN", "CERTBOT_EMAIL", "FORCE", "STAGING", "ACME_SERVER", "STACK", "DRY_RUN"},
		"prod:renew":    {"STACK", "DRY_RUN"},
		"stack:up":      append([]string{"COMPOSE_PROJECT_PREFIX", "DRY_RUN"}, envs...),
		"stack:down":    append([]string{"COMPOSE_PROJECT_PREFIX", "DRY_RUN"}, envs...),
		"stack:logs":    append([]string{"COMPOSE_PROJECT_PREFIX", "DRY_RUN"}, envs...),
		"stack:ps":      append([]string{"COMPOSE_PROJECT_PREFIX", "DRY_RUN"}, envs...),
		"stack:exec":    append([]string{"SERVICE", "COMMAND", "DRY_RUN"}, envs...),
		"prod:deploy":   {"-version", "-wait", "VERSION", "PRE_DEPLOY", "docker/.env.release", "DRY_RUN"},
		"prod:status":   {"docker/.env.release", "COMPOSE_PROJECT_PREFIX"},
		"prod:rollback": {"-wait", "DRY_RUN"},
		"version:show":  {"docker/.env.release"},
		"version:set":   {"X.Y.Z", "docker/.env.release", "DRY_RUN"},
		"version:bump":  {"major", "minor", "patch", "DRY_RUN"},
		"version:tag":   {"-push", "DRY_RUN"},
		// The defaults from internal/browsertest, so that -h cannot drift from them.
		"test:e2e": {"E2E_RUNNER_IMAGE", browsertest.DefaultImage, "E2E_RUNNER_COMMAND", "E2E_SPECS", browsertest.DefaultSpecs,
			"KEEP=1", browsertest.ArtifactsDir, browsertest.BaseURL, "docker/.env.test", "DRY_RUN"},
		"swarm:deploy":   {"VERSION", "REGISTRY", "dtx.redis=true", "DOCKER_HOST", "DOCKER_CONTEXT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"swarm:ps":       {"DOCKER_HOST", "DOCKER_CONTEXT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"swarm:rollback": {"DOCKER_HOST", "DOCKER_CONTEXT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"swarm:rm":       {"DOCKER_HOST", "DOCKER_CONTEXT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
	}
	listed := 0
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "  ") && len(f) > 0 {
			listed++
			if _, ok := want[f[0]]; !ok {
				t.Errorf("target %s is not checked here: add it", f[0])
			}
		}
	}
	if listed != len(want) {
		t.Errorf("-l lists %d targets, want %d", listed, len(want))
	}
	for target, words := range want {
		t.Run(target, func(t *testing.T) {
			help, _, code := dtx(t, dir, env, "-h", target)
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			for _, w := range words {
				if !strings.Contains(help, w) {
					t.Errorf("-h %s does not mention %s:\n%s", target, w, help)
				}
			}
		})
	}
}
