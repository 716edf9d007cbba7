// Package testsite makes the throwaway site that the end-to-end suites
// (test/e2e) and the benchmark (bench) run the tool in: a copy of the
// project as git has it, variables of its own (compose project prefix,
// registry path, VERSION, addresses, base images) so that it never touches a
// stack, image or registry path of the user's or of a parallel run, the way
// in (./dtx, run in the copy), and the removal of what it left on the engine.
//
// It does not import "testing", so that bench's main uses it as the suites
// do: New takes the few methods of *testing.T it needs (T), everything else
// returns errors.
package testsite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Stems of the compose project prefixes, followed by the process ID: what
// SweepStale recognises as a run's leftovers.
const (
	E2E   = "dtxe2e"
	Bench = "dtxbench"
)

// Domain is the DOMAIN of every site: the self-signed certificate the tool
// generates names it, and the clients ask for it on 127.0.0.1.
const Domain = "dtx.test"

// T is what New reports to: *testing.T has it.
type T interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Site is a copy of the project and the variables its targets run with.
type Site struct {
	Repo   string            // the repository copied
	Root   string            // the copy, where ./dtx runs
	Prefix string            // compose project prefix and registry path: <stem><pid>
	Vars   map[string]string // the site's variables, over the process environment
}

// New is a site for one test: it sweeps the leftovers of killed runs of
// stem, copies the repository that holds the working directory into a
// temporary folder of t, and removes what the site left on the engine when
// t ends. Checking that an engine answers is the caller's (CheckEngine):
// whether its absence skips or fails is testenv's rule.
func New(t T, stem string) *Site {
	t.Helper()
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatalf("%v", err)
	}
	repo, err := FindRepo(cwd)
	if err != nil {
		t.Fatalf("%v", err)
	}
	SweepStale(stem, t.Logf)
	s, err := Make(repo, t.TempDir(), Prefix(stem))
	if err != nil {
		t.Fatalf("the test site: %v", err)
	}
	t.Cleanup(func() { s.Cleanup(t.Logf) })
	return s
}

// Prefix is stem followed by this process's ID.
func Prefix(stem string) string { return fmt.Sprintf("%s%d", stem, os.Getpid()) }

// FindRepo is the repository that holds dir: the nearest folder up from it
// with the launcher (dtx) and go.mod.
func FindRepo(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		_, launcher := os.Stat(filepath.Join(d, "dtx"))
		_, mod := os.Stat(filepath.Join(d, "go.mod"))
		if launcher == nil && mod == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not in the project (no folder up from it holds dtx and go.mod): run from the repository", dir)
		}
	}
}

// CheckEngine says what is missing when no Docker engine answers or the
// compose plugin is not there; nil when both are.
func CheckEngine(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("no Docker engine answers (%v: %s); bash .ci/engine.sh up starts one, source /tmp/dtx-engine/env.sh uses it", err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.CommandContext(ctx, "docker", "compose", "version").CombinedOutput(); err != nil {
		return fmt.Errorf("the docker compose plugin does not answer (%v: %s); bash .ci/engine.sh up installs it", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// RegistryHost is the registry the sites push to: DTX_REGISTRY (set by
// .ci/engine.sh's env.sh), else 127.0.0.1:5000.
func RegistryHost() string {
	if r := os.Getenv("DTX_REGISTRY"); r != "" {
		return r
	}
	return "127.0.0.1:5000"
}

// BaseImages are the base-image substitutions of the process environment,
// by variable: every *_BASE_IMAGE variable (the Dockerfiles' ARG names,
// FRONTEND_, BACKEND_, NGINX_, and DTX_BASE_IMAGE, which env.sh exports
// too) and REDIS_IMAGE (the compose files' ${REDIS_IMAGE:-…}). That is the
// convention .ci/engine.sh's env.sh follows on an engine that cannot pull
// the official images; where it can, none is set and the official images
// are used. The process environment is the one place they are read from:
// no list of the project's images is repeated here.
func BaseImages() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if v != "" && (strings.HasSuffix(k, "_BASE_IMAGE") || k == "REDIS_IMAGE") {
			m[k] = v
		}
	}
	return m
}

// Files lists the project's files as git has them (tracked and new files,
// not ignored ones, nor those deleted in the working tree): what a fresh
// clone would hold, with the change under test.
func Files(repo string) ([]string, error) {
	out, err := exec.Command("git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %w", repo, err)
	}
	var files []string
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if info, err := os.Stat(filepath.Join(repo, f)); err == nil && info.Mode().IsRegular() {
			files = append(files, f)
		}
	}
	return files, nil
}

// Make copies repo's Files into root and sets the site's variables: a
// compose project prefix and registry path of its own (prefix), a VERSION
// no earlier run pushed, nginx published on 127.0.0.1 only, DOMAIN, and the
// BaseImages of the process.
func Make(repo, root, prefix string) (*Site, error) {
	files, err := Files(repo)
	if err != nil {
		return nil, err
	}
	for _, rel := range files {
		if err := copyFile(filepath.Join(repo, rel), filepath.Join(root, rel)); err != nil {
			return nil, err
		}
	}
	vars := map[string]string{
		"COMPOSE_PROJECT_PREFIX": prefix,
		"REGISTRY":               RegistryHost() + "/" + prefix,
		// The time, as well as the PID, since a registry outlives the
		// processes whose PIDs come round again.
		"VERSION":         fmt.Sprintf("0.%d.%d", time.Now().Unix()%100000, os.Getpid()),
		"PUBLISH_ADDRESS": "127.0.0.1",
		"DOMAIN":          Domain,
	}
	for k, v := range BaseImages() {
		vars[k] = v
	}
	return &Site{Repo: repo, Root: root, Prefix: prefix, Vars: vars}, nil
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, info.Mode().Perm())
}

// Environ is the process environment of a target run: ours, then the
// site's variables, then extra KEY=value pairs (the last one wins).
func (s *Site) Environ(extra ...string) []string {
	env := os.Environ()
	for k, v := range s.Vars {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

// Command is the README's way in, `./dtx args…`, in the site: the real
// tool, built from the copy's own sources, with Environ(extra…).
func (s *Site) Command(ctx context.Context, extra []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "./dtx", args...)
	cmd.Dir = s.Root
	cmd.Env = s.Environ(extra...)
	return cmd
}

// Ref is the reference of one of the site's images.
func (s *Site) Ref(image, tag string) string { return s.Vars["REGISTRY"] + "/" + image + ":" + tag }

// Project is the compose project of one of the site's environments.
func (s *Site) Project(env string) string { return s.Prefix + "-" + env }

// Cleanup removes what the site left on the engine: each environment's
// stack that has a container or network (./dtx stack:down), and the site's
// images, by reference. It says what failed through logf and goes on:
// a teardown never hides the error of what it tears down.
func (s *Site) Cleanup(logf func(format string, args ...any)) {
	for _, env := range stack.EnvironmentNames() {
		if !inUse(s.Project(env)) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		out, err := s.Command(ctx, nil, "stack:down", env).CombinedOutput()
		cancel()
		if err != nil {
			logf("cleanup: ./dtx stack:down %s: %v\n%s", env, err, out)
		}
	}
	// By reference, not by ID: `rmi -f ID` would also untag every other
	// name of that image (a parallel run's, the user's ghcr.io tags), and
	// the site's images share IDs with them when the builds hit the cache.
	refs, _ := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference="+s.Vars["REGISTRY"]+"/*").Output()
	if names := strings.Fields(string(refs)); len(names) > 0 {
		if out, err := exec.Command("docker", append([]string{"rmi"}, names...)...).CombinedOutput(); err != nil {
			logf("cleanup: docker rmi: %v\n%s", err, out)
		}
	}
}

// inUse tells whether a compose project has a container (running or not)
// or a network on the engine.
func inUse(project string) bool {
	filter := "label=com.docker.compose.project=" + project
	ids, _ := exec.Command("docker", "ps", "-aq", "--filter", filter).Output()
	nets, _ := exec.Command("docker", "network", "ls", "-q", "--filter", filter).Output()
	return len(bytes.TrimSpace(ids)) > 0 || len(bytes.TrimSpace(nets)) > 0
}

// SweepStale removes what an earlier run of stem left behind when it was
// killed before its cleanup (a timeout, say): the containers, networks and
// images of <stem><pid> projects whose process is gone. Nothing else is
// touched.
func SweepStale(stem string, logf func(format string, args ...any)) {
	out, _ := exec.Command("docker", "ps", "-a", "--format", `{{.ID}} {{.Label "com.docker.compose.project"}}`).Output()
	stale := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		id, project, ok := strings.Cut(line, " ")
		if prefix, alive := owner(stem, project); ok && prefix != "" && !alive {
			stale[prefix] = append(stale[prefix], id)
		}
	}
	nets, _ := exec.Command("docker", "network", "ls", "--format", `{{.ID}} {{.Label "com.docker.compose.project"}}`).Output()
	imgs, _ := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}} {{.Repository}}").Output()
	for prefix, ids := range stale {
		logf("removing leftovers of an earlier run: %s", prefix)
		exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		for _, line := range strings.Split(string(nets), "\n") {
			if id, project, ok := strings.Cut(line, " "); ok && strings.HasPrefix(project, prefix+"-") {
				exec.Command("docker", "network", "rm", id).Run()
			}
		}
		for _, line := range strings.Split(string(imgs), "\n") {
			if ref, repo, ok := strings.Cut(line, " "); ok && strings.HasPrefix(repo, RegistryHost()+"/"+prefix+"/") {
				exec.Command("docker", "rmi", ref).Run() // by reference: see Cleanup
			}
		}
	}
}

// owner returns the <stem><pid> prefix of a compose project name and
// whether that PID still runs; "" when the project is not stem's.
func owner(stem, project string) (string, bool) {
	rest, ok := strings.CutPrefix(project, stem)
	if !ok {
		return "", true
	}
	pid, _, _ := strings.Cut(rest, "-")
	if pid == "" || strings.Trim(pid, "0123456789") != "" {
		return "", true
	}
	if _, err := os.Stat("/proc/" + pid); err == nil {
		return stem + pid, true
	} else if !errors.Is(err, os.ErrNotExist) {
		return stem + pid, true // cannot tell: leave it
	}
	return stem + pid, false
}
