package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
func clone(t testing.TB) string {
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

func git(t testing.TB, dir string, args ...string) string {
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
func environ(t testing.TB, extra ...string) []string {
	t.Helper()
	return environIn(t, cache, extra...)
}

// environIn is environ with the launcher cache in xdg.
func environIn(t testing.TB, xdg string, extra ...string) []string {
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
	env = append(env, "XDG_CACHE_HOME="+xdg, "GOCACHE="+strings.TrimSpace(string(gocache)))
	return append(env, extra...)
}

// without is env without the variables named.
func without(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(names, k) {
			out = append(out, kv)
		}
	}
	return out
}

// bins lists the tool binaries built in the cache under xdg.
func bins(t testing.TB, xdg string) []string {
	t.Helper()
	found, err := filepath.Glob(filepath.Join(xdg, "dtx-website", "bin-*"))
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// probe writes a Go file into the clone's internal/targets that prints
// "probe: MARK" when the tool starts, under the build constraint given
// ("" for none).
func probe(t *testing.T, dir, constraint, mark string) string {
	t.Helper()
	src := fmt.Sprintf("package targets\n\nimport \"os\"\n\nfunc init() { os.Stderr.WriteString(%q) }\n", "probe: "+mark+"\n")
	if constraint != "" {
		src = "//go:build " + constraint + "\n\n" + src
	}
	path := filepath.Join(dir, "internal/targets/zz_probe.go")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// dtx runs ./dtx in dir and returns its stdout, stderr and exit status.
func dtx(t testing.TB, dir string, env []string, args ...string) (stdout, stderr string, code int) {
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
	for _, mark := range []string{"first change", "second change"} {
		probe(t, dir, "", mark)
		_, stderr, code := dtx(t, dir, env, "stack:ps", "debug")
		if code != 0 || !strings.Contains(stderr, "probe: "+mark+"\n") {
			t.Fatalf("after the %s (exit %d), the next run does not show it:\n%s", mark, code, stderr)
		}
		if !strings.Contains(stderr, "dtx: the Go sources changed: building the tool again…") {
			t.Errorf("the rebuild is not announced:\n%s", stderr)
		}
	}

	// A file touched without a change: the same binary, nothing built.
	built := bins(t, cache)
	path := filepath.Join(dir, "internal/stack/stack.go")
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := dtx(t, dir, env, "stack:ps", "debug")
	if code != 0 || strings.Contains(stderr, "dtx: ") || !slices.Equal(bins(t, cache), built) {
		t.Fatalf("after a touch (exit %d), something was built:\n%s", code, stderr)
	}

	// A change that keeps the size and the mtime (to the nanosecond): the
	// next run shows it.
	path = probe(t, dir, "", "same size AAAA")
	if _, stderr, code := dtx(t, dir, env, "stack:ps", "debug"); code != 0 || !strings.Contains(stderr, "probe: same size AAAA\n") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	probe(t, dir, "", "same size BBBB")
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if fi2, _ := os.Stat(path); fi2.Size() != fi.Size() || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("the probe's size or mtime changed: %v %v, then %v %v", fi.Size(), fi.ModTime(), fi2.Size(), fi2.ModTime())
	}
	if _, stderr, code := dtx(t, dir, env, "stack:ps", "debug"); code != 0 || !strings.Contains(stderr, "probe: same size BBBB\n") {
		t.Fatalf("a change keeping the size and mtime was not picked up (exit %d):\n%s", code, stderr)
	}

	os.Remove(path)
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
		{"./dtx stack:p", "ps pull"},
		{"./dtx sta", "stack:build stack:down stack:exec stack:logs stack:ps stack:pull stack:restart stack:run stack:stop stack:top stack:up"},
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
	envs := stack.EnvironmentNames()
	want := map[string][]string{
		"check":         {"DOCKER_HOST", "runtime", "runtime-dev"},
		"docker:build":  {"-only", "VERSION", "REGISTRY", stack.DefaultRegistry, "_BASE_IMAGE", "build section", "DRY_RUN"},
		"docker:push":   {"-only", "VERSION", "REGISTRY", "DRY_RUN"},
		"docker:pull":   {"-only", "VERSION", "REGISTRY", "DRY_RUN"},
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
		"stack:run":     append([]string{"SERVICE", "COMMAND", "DRY_RUN"}, envs...),
		"stack:restart": append([]string{"-service", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"}, envs...),
		"stack:stop":    append([]string{"-service", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"}, envs...),
		"stack:pull":    append([]string{"REGISTRY", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"}, envs...),
		"stack:build":   append([]string{"_BASE_IMAGE", "CACHE_FROM", "DRY_RUN"}, envs...),
		"stack:top":     append([]string{"COMPOSE_PROJECT_PREFIX", "DRY_RUN"}, envs...),
		"prod:deploy":   {"-version", "-wait", "VERSION", "PRE_DEPLOY", "docker/.env.release", "DRY_RUN"},
		"prod:status":   {"docker/.env.release", "COMPOSE_PROJECT_PREFIX"},
		"prod:rollback": {"-wait", "-data", "-force", "DRY_RUN"},
		"prod:backup":   {"BACKUP_KEEP", "BACKUP_TO", "BACKUP_SSH_CONFIG", "BACKUP_SQLITE", "x-dtx.data", "STACK", "DRY_RUN"},
		"prod:restore":  {"-name", "-force", "BACKUP_TO", "DRY_RUN"},
		"prod:backups":  {"BACKUP_TO", "DOCKER_HOST"},
		"version:show":  {"docker/.env.release"},
		"version:set":   {"X.Y.Z", "docker/.env.release", "DRY_RUN"},
		"version:bump":  {"major", "minor", "patch", "DRY_RUN"},
		"version:tag":   {"-push", "DRY_RUN"},
		// The defaults from internal/browsertest, so that -h cannot drift from them.
		"test:e2e": {"-shard", "-grep", "-spec", browsertest.ShardVar, browsertest.FrameworkVar, browsertest.DirVar, browsertest.DefaultDir,
			browsertest.ImageVar, browsertest.CypressImage, browsertest.CommandVar, browsertest.PlaywrightCommand, browsertest.BaseImageVar,
			"KEEP=1", browsertest.ArtifactsDir, browsertest.BaseURLForm, browsertest.RunnerCompose, "docker/.env.test", "DRY_RUN"},
		"swarm:deploy":   {"VERSION", "REGISTRY", "dtx.data=true", "DOCKER_HOST", "DOCKER_CONTEXT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"swarm:ps":       {"DOCKER_HOST", "DOCKER_CONTEXT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"swarm:rollback": {"DOCKER_HOST", "DOCKER_CONTEXT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"swarm:rm":       {"DOCKER_HOST", "DOCKER_CONTEXT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"swarm:setup":    {"SWARM_MANAGERS", "SWARM_WORKERS", "SWARM_ADVERTISE", "SWARM_DATA_NODE", "dtx.data=true", "REGISTRY", "VERSION", "DRY_RUN"},
		"swarm:nodes":    {"DOCKER_HOST", "DOCKER_CONTEXT"},
		"swarm:drain":    {"NODE", "-force", "dtx.data=true", "DOCKER_HOST", "DOCKER_CONTEXT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
		"swarm:activate": {"NODE", "DOCKER_HOST", "DOCKER_CONTEXT", "COMPOSE_PROJECT_PREFIX", "DRY_RUN"},
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

// The binary is built for this machine and named after everything that
// changes it: GOARCH in the environment does not make a binary this
// machine cannot run; GOFLAGS (build tags) and the Go version each give a
// binary of their own; cgo and a go.work never apply.
func TestBuildFollowsGoAndItsSettings(t *testing.T) {
	dir := clone(t)
	env := environ(t, "DRY_RUN=1")
	run := func(t *testing.T, env []string) string {
		t.Helper()
		_, stderr, code := dtx(t, dir, env, "stack:ps", "debug")
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		return stderr
	}
	t.Cleanup(func() { os.Remove(filepath.Join(dir, "internal/targets/zz_probe.go")) })

	t.Run("GOARCH", func(t *testing.T) {
		other := "arm64"
		if runtime.GOARCH == "arm64" {
			other = "amd64"
		}
		probe(t, dir, "", "built for "+other+"?") // a change: this run builds
		if out := run(t, append(env, "GOARCH="+other)); !strings.Contains(out, "probe: built for") {
			t.Fatalf("the change was not built:\n%s", out)
		}
		if out := run(t, env); strings.Contains(out, "dtx: ") {
			t.Fatalf("the next run, without GOARCH, built again:\n%s", out)
		}
	})

	t.Run("GOFLAGS", func(t *testing.T) {
		probe(t, dir, "dtxprobe", "tagged")
		if out := run(t, append(env, "GOFLAGS=-tags=dtxprobe")); !strings.Contains(out, "probe: tagged") {
			t.Fatalf("GOFLAGS=-tags=dtxprobe: the tagged file is not in the tool:\n%s", out)
		}
		if out := run(t, env); strings.Contains(out, "probe: tagged") {
			t.Fatalf("without the tag, the tagged file is still in the tool:\n%s", out)
		}
	})

	t.Run("CGO_ENABLED", func(t *testing.T) {
		// Never with cgo (a static binary starts faster): a file only cgo
		// builds is never in the tool, and CGO_ENABLED builds nothing new.
		probe(t, dir, "cgo", "cgo")
		if out := run(t, append(env, "CGO_ENABLED=1")); strings.Contains(out, "probe: cgo") {
			t.Fatalf("CGO_ENABLED=1: the tool was built with cgo:\n%s", out)
		}
		if out := run(t, append(env, "CGO_ENABLED=0")); strings.Contains(out, "dtx: ") {
			t.Fatalf("CGO_ENABLED=0 after CGO_ENABLED=1 built again:\n%s", out)
		}
	})

	t.Run("a go.work above the cache", func(t *testing.T) {
		// go.work files are found in the parents of the folder go runs in:
		// the build's staging copy is in the cache.
		xdg := filepath.Join(t.TempDir(), "cache")
		os.MkdirAll(filepath.Join(filepath.Dir(xdg), "other"), 0o755)
		write(t, filepath.Dir(xdg), "other/go.mod", "module example.com/other\n\ngo 1.26\n")
		write(t, filepath.Dir(xdg), "go.work", "go 1.26\n\nuse ./other\n")
		if _, stderr, code := dtx(t, dir, environIn(t, xdg, "DRY_RUN=1"), "stack:ps", "debug"); code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		if _, stderr, code := dtx(t, dir, environIn(t, xdg, "DRY_RUN=1", "GOWORK="+filepath.Join(filepath.Dir(xdg), "go.work")), "stack:ps", "debug"); code != 0 || strings.Contains(stderr, "dtx: ") {
			t.Fatalf("GOWORK set (exit %d): it failed or built again:\n%s", code, stderr)
		}
	})

	t.Run("the Go version", func(t *testing.T) {
		// Another Go: the oldest go.mod allows, through GOTOOLCHAIN (the go
		// command downloads it from the module proxy once, about 40 s, and
		// its first build compiles everything, about a minute).
		older := "go1.26.0"
		if v, _ := exec.Command("go", "env", "GOVERSION").Output(); strings.TrimSpace(string(v)) == older {
			older = "go1.26.1"
		}
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(out)), "golang.org", "toolchain@v0.0.1-"+older+"."+runtime.GOOS+"-"+runtime.GOARCH)); err != nil {
				cmd := exec.Command("go", "version")
				cmd.Env = append(env, "GOTOOLCHAIN="+older)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Skipf("%s cannot be had here (%v): %s", older, err, out)
				}
			}
		}
		before := bins(t, cache)
		out := run(t, append(env, "GOTOOLCHAIN="+older))
		if !strings.Contains(out, "dtx: Go is now "+older) {
			t.Errorf("the launcher was not rebuilt with %s:\n%s", older, out)
		}
		var added []string
		for _, b := range bins(t, cache) {
			if !slices.Contains(before, b) {
				added = append(added, b)
			}
		}
		if len(added) != 1 {
			t.Fatalf("GOTOOLCHAIN=%s built %d binaries, want 1:\n%s", older, len(added), out)
		}
		version, err := exec.Command("go", "version", filepath.Join(added[0], "dtx")).Output()
		if err != nil || !strings.Contains(string(version), older) {
			t.Fatalf("the new binary says %q (%v), want %s", version, err, older)
		}
		// Back to the Go on PATH: its launcher and binary are still there.
		if out := run(t, env); strings.Contains(out, "building the tool") {
			t.Fatalf("back to the Go on PATH, the tool was built again:\n%s", out)
		}
	})
}

// The cache folder is the user's own and nobody else can write to it; its
// path is absolute. Otherwise ./dtx says so in one line, and runs nothing.
func TestCacheFolderIsTheUsers(t *testing.T) {
	dir := clone(t)
	status := git(t, dir, "status", "--ignored", "--porcelain")
	refused := func(t *testing.T, env []string, want string) {
		t.Helper()
		stdout, stderr, code := dtx(t, dir, env, "-l")
		if code == 0 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
			t.Fatalf("exit %d, want a refusal saying %q in one line; stdout:\n%s\nstderr:\n%s", code, want, stdout, stderr)
		}
	}
	t.Run("a relative XDG_CACHE_HOME", func(t *testing.T) {
		refused(t, environIn(t, "cache"), "XDG_CACHE_HOME=cache is not an absolute path")
	})
	t.Run("a relative HOME", func(t *testing.T) {
		refused(t, append(without(environIn(t, ""), "XDG_CACHE_HOME", "HOME"), "HOME=home"), "HOME=home is not an absolute path")
	})
	if after := git(t, dir, "status", "--ignored", "--porcelain"); after != status {
		t.Fatalf("a refused run wrote into the checkout:\n%s\nbefore:\n%s", after, status)
	}
	t.Run("writable by others", func(t *testing.T) {
		// Before the launcher is built (./dtx checks), and after (the
		// launcher checks, on every run).
		xdg := t.TempDir()
		folder := filepath.Join(xdg, "dtx-website")
		os.Mkdir(folder, 0o700)
		built := filepath.Join(cache, "dtx-website")
		if _, stderr, code := dtx(t, dir, environ(t), "-l"); code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		t.Cleanup(func() { os.Chmod(built, 0o700) })
		for _, mode := range []os.FileMode{0o777, 0o770} {
			for _, c := range []struct{ xdg, folder string }{{xdg, folder}, {cache, built}} {
				os.Chmod(c.folder, mode) // past the umask
				refused(t, environIn(t, c.xdg), "chmod go-w "+c.folder)
			}
		}
		if entries, _ := os.ReadDir(folder); len(entries) > 0 {
			t.Fatalf("something was built into it: %v", entries)
		}
	})
	t.Run("another user's", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("only root can make a folder of another user's")
		}
		xdg := t.TempDir()
		folder := filepath.Join(xdg, "dtx-website")
		os.Mkdir(folder, 0o700)
		os.Chown(folder, 65534, 65534)
		refused(t, environIn(t, xdg), folder+" belongs to another user")
		// The folder is the user's, but the launcher in it is not.
		os.Chown(folder, 0, 0)
		os.WriteFile(filepath.Join(folder, "dtx-launcher"), []byte("#!/bin/sh\necho planted\n"), 0o755)
		os.Chown(filepath.Join(folder, "dtx-launcher"), 65534, 65534)
		refused(t, environIn(t, xdg), "launcher belongs to another user")
	})
}

// From an empty cache, ./dtx says what it compiles before it compiles it:
// the first line comes within the first second, and each step has its
// line. A change of cmd/dtx rebuilds the launcher, saying so, and runs it.
func TestTalksFromTheFirstSecond(t *testing.T) {
	dir := clone(t)
	xdg := t.TempDir()
	env := environIn(t, xdg, "DRY_RUN=1")
	type line struct {
		text string
		at   time.Duration
	}
	start := time.Now()
	cmd := exec.Command("./dtx", "stack:ps", "debug")
	cmd.Dir, cmd.Env = dir, env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []line
	data := make([]byte, 0, 4096)
	buf := make([]byte, 4096)
	for {
		n, err := stderr.Read(buf)
		at := time.Since(start)
		data = append(data, buf[:n]...)
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			lines = append(lines, line{string(data[:i]), at})
			data = data[i+1:]
		}
		if err != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v", err, lines)
	}
	want := []string{
		"dtx: compiling the launcher (cmd/dtx)…",
		"dtx: building the tool (first run: about a minute on a fresh machine)…",
		"dtx: compiling mage (go tool mage)…",
		"dtx: compiling the targets (magefiles/, internal/) with mage…",
	}
	var got []string
	for _, l := range lines {
		if strings.HasPrefix(l.text, "dtx: ") {
			got = append(got, l.text)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the steps said:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if lines[0].at > time.Second {
		t.Errorf("the first line came after %v", lines[0].at)
	}

	// A change of the launcher's source: said, rebuilt, run, once.
	main := filepath.Join(dir, "cmd/dtx/main.go")
	src, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(main, append(src, "\n// changed\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, code := dtx(t, dir, env, "stack:ps", "debug")
	if code != 0 || !strings.HasPrefix(out, "dtx: the launcher's source (cmd/dtx, internal/launcher) changed: compiling it again…\n") {
		t.Fatalf("after a change of cmd/dtx (exit %d):\n%s", code, out)
	}
	if _, out, code := dtx(t, dir, env, "stack:ps", "debug"); code != 0 || strings.Contains(out, "dtx: ") {
		t.Fatalf("the run after (exit %d) built again:\n%s", code, out)
	}
}

// BenchmarkWayIn measures what ./dtx adds to the target it runs: ./dtx -l
// against the built binary run directly with the same argument, one after
// the other, b.N times each (go test ./internal/launcher -run '^$' -bench WayIn
// -benchtime 30x). It reports the medians and the spread of the
// difference.
func BenchmarkWayIn(b *testing.B) {
	dir := clone(b)
	env := environ(b)
	if _, stderr, code := dtx(b, dir, env, "-l"); code != 0 {
		b.Fatalf("exit %d:\n%s", code, stderr)
	}
	var bin string
	var newest time.Time
	for _, candidate := range bins(b, cache) { // the one just built
		if fi, err := os.Stat(candidate); err == nil && fi.ModTime().After(newest) {
			bin, newest = candidate, fi.ModTime()
		}
	}
	timed := func(name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", name, err, out)
		}
		return time.Since(start)
	}
	var way, direct, diff []time.Duration
	b.ResetTimer()
	for b.Loop() {
		w := timed("./dtx", "-l")
		d := timed(filepath.Join(bin, "dtx"), "-l")
		way, direct, diff = append(way, w), append(direct, d), append(diff, w-d)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	median := func(s []time.Duration) time.Duration {
		s = slices.Clone(s)
		slices.Sort(s)
		return s[len(s)/2]
	}
	sorted := slices.Clone(diff)
	slices.Sort(sorted)
	b.ReportMetric(ms(median(way)), "ms-dtx")
	b.ReportMetric(ms(median(direct)), "ms-binary")
	b.ReportMetric(ms(median(diff)), "ms-way-in")
	b.ReportMetric(ms(sorted[len(sorted)/10]), "ms-way-in-p10")
	b.ReportMetric(ms(sorted[len(sorted)*9/10]), "ms-way-in-p90")
	b.ReportMetric(0, "ns/op")
}

// ./dtx runs the tool it ran last directly when that tool is the one of
// the sources as they are (one process, not two), and hands over to the
// launcher whenever it is not: a stand-in for the launcher, which only
// says it ran, shows which did.
func TestToolRunsItselfWhenCurrent(t *testing.T) {
	dir := clone(t)
	xdg := t.TempDir()
	env := environIn(t, xdg, "DRY_RUN=1")
	// The tool says "probe: old" when a package of the project initialises:
	// a stale tool must hand over before it does.
	probe(t, dir, "", "old")
	// Sources written less than racyWindow before an index are read again
	// until an index taken later trusts them: let the clone's age.
	time.Sleep(time.Duration(racyWindow) + 100*time.Millisecond)
	if _, stderr, code := dtx(t, dir, env, "stack:ps", "debug"); code != 0 {
		t.Fatalf("the first run (exit %d):\n%s", code, stderr)
	}
	launcherPath := filepath.Join(xdg, "dtx-website", launcherFile)
	real, err := os.ReadFile(launcherPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(launcherPath, real, 0o755) })
	if err := os.WriteFile(launcherPath, []byte("#!/bin/sh\necho 'stand-in launcher ran' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const want = "[dry-run] docker compose --project-name dtx-debug -f docker-compose.debug.yaml --env-file docker/.env.dev ps"
	for i := 0; i < 3; i++ {
		if _, stderr, code := dtx(t, dir, env, "stack:ps", "debug"); code != 0 || !strings.Contains(stderr, want) || strings.Contains(stderr, "stand-in") {
			t.Fatalf("nothing changed, yet the tool did not run itself (exit %d):\n%s", code, stderr)
		}
	}
	// A new Go setting (a build tag): the tool hands over.
	if _, stderr, code := dtx(t, dir, append(env, "GOFLAGS=-tags=dtxother"), "stack:ps", "debug"); code != 3 || !strings.Contains(stderr, "stand-in launcher ran") {
		t.Fatalf("after a change of GOFLAGS (exit %d):\n%s", code, stderr)
	} else if strings.Contains(stderr, "probe: old") {
		t.Fatalf("the stale tool ran the project's code before it handed over:\n%s", stderr)
	}
	// A source changed: the tool hands over too (and runs none of its
	// targets).
	probe(t, dir, "", "new")
	if _, stderr, code := dtx(t, dir, env, "stack:ps", "debug"); code != 3 || !strings.Contains(stderr, "stand-in launcher ran") || strings.Contains(stderr, "[dry-run]") || strings.Contains(stderr, "probe: old") {
		t.Fatalf("after a change of the sources (exit %d):\n%s", code, stderr)
	}
	os.Remove(filepath.Join(dir, "internal/targets/zz_probe.go"))
}
