// Package browsertest plans and runs test:e2e: the website's own browser
// tests (Playwright Test or Cypress), run unchanged by a runner image as a
// one-off container on the test stack's network. This file reads the run's
// settings, decides the framework by the config the project holds, checks
// everything, and returns the docker commands of the run and its decisions;
// project.go makes what is copied in and unpacks what is copied out; run.go
// runs it all (Run).
//
// The runner container is created, given the project, started attached and,
// after it exited, its results are copied out and it is removed: docker
// create, cp, start --attach, cp, rm. Copying (rather than bind-mounting the
// project and the results folder) works with any engine, a remote
// DOCKER_HOST included, leaves no root-owned files in the checkout, keeps the
// results of a runner that failed, and lets test:e2e choose what goes in (no
// node_modules) and what comes out (files and folders, never a link).
package browsertest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/validate"
)

// Framework is the test framework of a project, known by its config file.
type Framework string

// The frameworks test:e2e runs.
const (
	Playwright Framework = "playwright"
	Cypress    Framework = "cypress"
)

// configExtensions are the config file names each framework looks for
// itself, in its own order of preference.
var configExtensions = []string{".ts", ".js", ".mts", ".mjs", ".cts", ".cjs"}

// The contract between test:e2e and a runner image.
const (
	// DefaultDir is the folder whose playwright.config.* or cypress.config.*
	// decides the framework, copied into the runner: the website's frontend.
	DefaultDir = "frontend"
	// CypressImage is the runner of a Cypress project: Cypress's official
	// image, which runs `cypress run` in its working directory. Pinned by
	// tag: a new Cypress is a change to review.
	CypressImage = "cypress/included:15.3.0"
	// RunnerCompose builds the runner of a Playwright project
	// (test/browser/Dockerfile) on BROWSER_BASE_IMAGE; RunnerImage is the
	// image it builds, under REGISTRY.
	RunnerCompose = "test/browser/compose.yaml"
	RunnerImage   = "playwright-runner"
	// PlaywrightCommand is the runner's command for a Playwright project,
	// test:e2e's arguments appended (--config=, --shard=, --grep=, specs).
	PlaywrightCommand = "playwright test"
	// Workdir is where the project is copied in the container, and the
	// runner's working directory.
	Workdir = "/e2e"
	// Results is where the runner writes its reports, traces, screenshots
	// and videos (E2E_RESULTS); test:e2e copies it out.
	Results = Workdir + "/e2e-results"
	// ArtifactsDir is where test:e2e copies Results, relative to the
	// project root (git-ignored).
	ArtifactsDir = "test-results/e2e"
	// BaseURLForm is the shape of the site as the runner reaches it (see
	// SiteURL), for messages and help.
	BaseURLForm = "https://PROXY:PORT"
	// Wrapper is the name (before its extension) of the config test:e2e
	// writes beside a Playwright project's own in the runner's copy.
	Wrapper = "playwright.dtx.config"
)

// Variables read by FromEnv, for messages and help.
const (
	DirVar       = "E2E_DIR"
	FrameworkVar = "E2E_FRAMEWORK"
	ImageVar     = "E2E_RUNNER_IMAGE"
	CommandVar   = "E2E_RUNNER_COMMAND"
	BaseImageVar = "BROWSER_BASE_IMAGE"
	ShardVar     = "E2E_SHARD"
	GrepVar      = "E2E_GREP"
	SpecVar      = "E2E_SPEC"
	KeepVar      = "KEEP"
	// specsVar is the variable of the earlier contract (a specs folder).
	specsVar = "E2E_SPECS"
)

// Options are test:e2e's own command-line options; each wins over its
// variable (-shard over E2E_SHARD…).
type Options struct {
	Shard string // "1/4": this run is that shard of the tests
	Grep  string // only the tests whose title matches
	Spec  string // only these spec files, comma-separated
}

// Config is one run of the browser tests.
type Config struct {
	Framework  Framework
	Dir        string // the project folder, relative to the project root (or absolute)
	ConfigFile string // its framework's config file: playwright.config.ts
	Other      string // the other framework's config, when Dir holds both

	Image     string   // the runner image
	Build     bool     // Image is built from RunnerCompose (the default for Playwright)
	Registry  string   // REGISTRY of that build
	BaseImage string   // BROWSER_BASE_IMAGE of that build; empty: the compose file's default
	Command   []string // the container's command before test:e2e's arguments; empty keeps the image's

	Shard string
	Grep  string
	Specs []string // relative to Dir
	Keep  bool     // leave the test stack running afterwards
	CI    string   // the CI variable, passed on: configs read it (retries, forbidOnly)

	// Project is the test stack's compose project, Proxy its proxy service
	// (internal/roles: nginx in the starter), Network the network the proxy
	// is on, BaseURL the site as the runner reaches it (SiteURL); all come
	// from the loaded compose file.
	Project string
	Proxy   string
	Network string
	BaseURL string
}

// SiteURL is the site as the runner reaches it: the proxy by its service
// name on the stack's network, on the port it serves HTTPS on inside its
// container (roles.TLSPort), never through the host's published ports.
func SiteURL(proxy string, port uint32) string {
	if port == 443 {
		return "https://" + proxy
	}
	return "https://" + proxy + ":" + strconv.FormatUint(uint64(port), 10)
}

// Source reads one variable and says where its value comes from.
type Source interface {
	Get(key string) (string, bool)
	Source(key string) string
}

func value(env Source, key string) string {
	v, _ := env.Get(key)
	return strings.TrimSpace(v)
}

// FromEnv reads the run's variables and options, finds the framework, applies
// the defaults and checks each: an error is one line naming the variable (or
// option), where it comes from and the fix. root is the project root, where
// a relative project folder is looked up; registry is the test stack's
// REGISTRY, under which the Playwright runner is built; split splits a
// command into words like a shell.
func FromEnv(env Source, root, registry string, opts Options, split func(string) ([]string, error)) (Config, error) {
	c := Config{Dir: DefaultDir}
	if v := value(env, specsVar); v != "" {
		return c, fmt.Errorf("%s=%q (from %s): test:e2e no longer copies a specs folder but the project that holds playwright.config.* or cypress.config.*: remove %s, and set %s if that folder is not %s", specsVar, v, env.Source(specsVar), specsVar, DirVar, DefaultDir)
	}
	if v := value(env, DirVar); v != "" {
		c.Dir = filepath.Clean(v)
	}
	dir, err := checkDir(root, c.Dir)
	if err != nil {
		return c, fmt.Errorf("%s=%q (from %s): %w", DirVar, c.Dir, env.Source(DirVar), err)
	}
	if c.Framework, c.ConfigFile, c.Other, err = framework(env, dir, c.Dir); err != nil {
		return c, err
	}

	if v := value(env, ImageVar); v != "" {
		c.Image = v
		if err := validate.ImageRef(c.Image); err != nil {
			return c, fmt.Errorf("%s=%q (from %s) %w; unset it for the default runner", ImageVar, c.Image, env.Source(ImageVar), err)
		}
	} else if c.Framework == Playwright {
		c.Image, c.Build, c.Registry = registry+"/"+RunnerImage+":latest", true, registry
		c.BaseImage = value(env, BaseImageVar) // checked with every *_IMAGE variable when the stack was opened
	} else {
		c.Image = CypressImage
	}
	if v, _ := env.Get(CommandVar); strings.TrimSpace(v) != "" {
		if err := validate.Plain(v); err != nil {
			return c, fmt.Errorf("%s (from %s) %w", CommandVar, env.Source(CommandVar), err)
		}
		if c.Command, err = split(v); err != nil {
			return c, fmt.Errorf("%s (from %s): %w", CommandVar, env.Source(CommandVar), err)
		}
	} else if c.Framework == Playwright {
		c.Command = strings.Fields(PlaywrightCommand)
	}

	if err := c.readFilters(env, opts); err != nil {
		return c, err
	}
	if c.Keep, err = flag(env, KeepVar); err != nil {
		return c, err
	}
	c.CI = value(env, "CI")
	return c, nil
}

func checkDir(root, dir string) (string, error) {
	if err := validate.Plain(dir); err != nil {
		return "", err
	}
	path := dir
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, dir)
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("the folder is missing: set %s to the folder that holds playwright.config.* or cypress.config.* (default %s)", DirVar, DefaultDir)
	case err != nil:
		return "", fmt.Errorf("the folder cannot be read: %w", err)
	case !info.IsDir():
		return "", fmt.Errorf("is a file, not a folder: set %s to the folder that holds playwright.config.* or cypress.config.* (default %s)", DirVar, DefaultDir)
	}
	return path, nil
}

// findConfig is the config file of framework f in dir, or "".
func findConfig(dir string, f Framework) string {
	for _, ext := range configExtensions {
		name := string(f) + ".config" + ext
		if info, err := os.Stat(filepath.Join(dir, name)); err == nil && info.Mode().IsRegular() {
			return name
		}
	}
	return ""
}

// DefaultFramework is E2E_FRAMEWORK's default, for a folder that holds
// both configs: Cypress, the starter's default.
const DefaultFramework = Cypress

// framework decides the framework by the config files dir holds: the only
// one, or E2E_FRAMEWORK's choice (default DefaultFramework) when it holds
// both; other is then the config not run.
func framework(env Source, dir, shown string) (f Framework, config, other string, err error) {
	found := map[Framework]string{Playwright: findConfig(dir, Playwright), Cypress: findConfig(dir, Cypress)}
	pw, cy := found[Playwright], found[Cypress]
	if v := strings.ToLower(value(env, FrameworkVar)); v != "" {
		f := Framework(v)
		name, known := found[f]
		switch {
		case !known:
			return "", "", "", fmt.Errorf("%s=%q (from %s): use playwright or cypress", FrameworkVar, v, env.Source(FrameworkVar))
		case name == "":
			return "", "", "", fmt.Errorf("%s=%s (from %s), but %s holds no %s.config.ts (or .js, .mjs…): add it there, or set %s to the folder that does", FrameworkVar, v, env.Source(FrameworkVar), shown, v, DirVar)
		}
		if f == Playwright {
			return f, name, cy, nil
		}
		return f, name, pw, nil
	}
	switch {
	case pw != "" && cy != "":
		if DefaultFramework == Playwright {
			return Playwright, pw, cy, nil
		}
		return Cypress, cy, pw, nil
	case pw != "":
		return Playwright, pw, "", nil
	case cy != "":
		return Cypress, cy, "", nil
	}
	return "", "", "", fmt.Errorf("%s holds no playwright.config.ts nor cypress.config.js: add the config of the website's browser tests there (see docs/browser-tests.md), or set %s to the folder that holds it", shown, DirVar)
}

// Chosen says which framework runs and, when the folder holds both
// configs, how to run the other.
func (c Config) Chosen() string {
	s := fmt.Sprintf("test:e2e: %s runs %s/%s with %s", c.Framework, c.Dir, c.ConfigFile, c.Image)
	if c.Other != "" {
		other := Playwright
		if c.Framework == Playwright {
			other = Cypress
		}
		s += fmt.Sprintf(" (%s also holds %s: %s=%s runs it)", c.Dir, c.Other, FrameworkVar, other)
	}
	return s
}

var shardPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([1-9][0-9]*)/([1-9][0-9]*)$`) })

// readFilters reads -shard, -grep and -spec, each over its variable.
func (c *Config) readFilters(env Source, opts Options) error {
	// pick is the option or else the variable, and how a message names it.
	pick := func(opt, key string) (string, func() string) {
		if v := strings.TrimSpace(opt); v != "" {
			return v, func() string { return fmt.Sprintf("-%s=%q", strings.ToLower(strings.TrimPrefix(key, "E2E_")), v) }
		}
		v := value(env, key)
		return v, func() string { return fmt.Sprintf("%s=%q (from %s)", key, v, env.Source(key)) }
	}
	shard, shown := pick(opts.Shard, ShardVar)
	if shard != "" {
		m := shardPattern().FindStringSubmatch(shard)
		if m == nil {
			return fmt.Errorf("%s: write the shard as N/TOTAL, e.g. 1/4", shown())
		}
		if n, _ := strconv.Atoi(m[1]); n > atoi(m[2]) {
			return fmt.Errorf("%s: shard %s of %s does not exist: N runs from 1 to TOTAL", shown(), m[1], m[2])
		}
		if c.Framework == Cypress {
			return fmt.Errorf("%s: Cypress has no sharding of its own (it splits runs through Cypress Cloud): drop it, or run the tests with Playwright", shown())
		}
		c.Shard = shard
	}
	grep, shown := pick(opts.Grep, GrepVar)
	if grep != "" {
		if err := validate.Plain(grep); err != nil {
			return fmt.Errorf("%s %w", shown(), err)
		}
		if c.Framework == Cypress {
			return fmt.Errorf("%s: Cypress has no grep of its own: name the spec file with -spec instead", shown())
		}
		c.Grep = grep
	}
	specs, shown := pick(opts.Spec, SpecVar)
	for _, spec := range strings.Split(specs, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		if err := validate.Plain(spec); err != nil {
			return fmt.Errorf("%s %w", shown(), err)
		}
		if strings.HasPrefix(spec, "-") {
			return fmt.Errorf("%s: %q starts with '-': name a spec file, e.g. tests/playwright/e2e/home.spec.ts", shown(), spec)
		}
		// A path from the project root names the same file in the runner,
		// where the project folder is the working directory.
		spec = strings.TrimPrefix(filepath.ToSlash(spec), filepath.ToSlash(c.Dir)+"/")
		c.Specs = append(c.Specs, spec)
	}
	return nil
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func flag(env Source, key string) (bool, error) {
	v, _ := env.Get(key)
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q from %s: use 1 or 0", key, v, env.Source(key))
}

// WrapperFile is the name of the config test:e2e writes beside a Playwright
// project's own: the same kind of file, so that Playwright loads both the
// same way (TypeScript stays TypeScript, a module stays a module).
func (c Config) WrapperFile() string {
	ext := filepath.Ext(c.ConfigFile)
	switch ext {
	case ".ts", ".mts", ".cts":
	default: // .js, .mjs, .cjs: an ES module imports any of them
		ext = ".mjs"
	}
	return Wrapper + ext
}

// ContainerName is the runner container's name: one per test stack, so that
// one left by a killed run is found and removed before the next.
func (c Config) ContainerName() string { return c.Project + "-e2e-runner" }

func docker(args ...string) runner.Command { return runner.Command{Name: "docker", Args: args} }

// Leftover lists the runner container of an earlier run that was killed
// before it removed it (a read-only probe: it prints its ID, or nothing).
func (c Config) Leftover() runner.Command {
	return docker("ps", "--all", "--quiet", "--filter", "name=^/"+c.ContainerName()+"$")
}

// BuildRunner builds the Playwright runner image from RunnerCompose, with
// REGISTRY and BROWSER_BASE_IMAGE as the test stack has them (the compose
// file interpolates them; NODE_EXTRA_CA_CERTS, from the process, gives npm
// a proxy's CA). The engine's build cache makes a repeat take seconds.
func (c Config) BuildRunner(root string) runner.Command {
	cmd := docker("compose", "-f", RunnerCompose, "build")
	cmd.Dir = root
	cmd.Env = []string{"REGISTRY=" + c.Registry}
	if c.BaseImage != "" {
		cmd.Env = append(cmd.Env, BaseImageVar+"="+c.BaseImage)
	}
	return cmd
}

// HasImage asks whether the engine has the runner image (a read-only
// probe: it fails when the engine does not).
func (c Config) HasImage() runner.Command {
	return docker("image", "inspect", "--format", "{{.Id}}", c.Image)
}

// Pull pulls the runner image. It runs before anything starts, so that a
// misspelt or unreachable image stops the run before the build and the
// stack, not after them.
func (c Config) Pull() runner.Command { return docker("pull", c.Image) }

// PullFailed is the error of a runner image the engine neither has nor can
// pull; err is the pull's failure.
func (c Config) PullFailed(err error) error {
	if c.Image == CypressImage {
		return fmt.Errorf("%s=%q (the default for Cypress): the engine does not have this image and cannot pull it: let the engine reach its registry, or set %s to a Cypress image it has (%w)", ImageVar, c.Image, ImageVar, err)
	}
	return fmt.Errorf("%s=%q: the engine does not have this image and cannot pull it: check the name, build it first, or unset %s for the default runner (%w)", ImageVar, c.Image, ImageVar, err)
}

// Env is what the runner gets: the site, where to write, the shard, and CI.
// Playwright's config reads PLAYWRIGHT_BASE_URL through test:e2e's wrapper,
// Cypress its CYPRESS_* variables itself; E2E_BASE_URL and E2E_RESULTS are
// for a command of one's own.
func (c Config) Env() []string {
	env := []string{"E2E_BASE_URL=" + c.BaseURL, "E2E_RESULTS=" + Results}
	switch c.Framework {
	case Playwright:
		env = append(env, "PLAYWRIGHT_BASE_URL="+c.BaseURL, "PLAYWRIGHT_HTML_OPEN=never")
		if c.Shard != "" {
			env = append(env, ShardVar+"="+c.Shard)
		}
	case Cypress:
		env = append(env, "CYPRESS_BASE_URL="+c.BaseURL,
			"CYPRESS_SCREENSHOTS_FOLDER="+Results+"/screenshots",
			"CYPRESS_VIDEOS_FOLDER="+Results+"/videos")
	}
	if c.CI != "" {
		env = append(env, "CI="+c.CI)
	}
	return env
}

// Args are test:e2e's arguments to the runner's command: the wrapper config,
// the shard, the grep and the specs, as `npx playwright test` takes them (or
// `cypress run --spec`).
func (c Config) Args() []string {
	if c.Framework == Cypress {
		if len(c.Specs) == 0 {
			return nil
		}
		return []string{"--spec", strings.Join(c.Specs, ",")}
	}
	args := []string{"--config=" + c.WrapperFile()}
	if c.Shard != "" {
		args = append(args, "--shard="+c.Shard)
	}
	if c.Grep != "" {
		args = append(args, "--grep="+c.Grep)
	}
	return append(args, c.Specs...)
}

// Create creates the runner container on the stack's network. It carries
// the stack's compose project label, so that what lists the stack's
// containers lists it too. --init gives it an init that passes Ctrl-C on
// (a runner as PID 1 without a handler would ignore SIGINT).
func (c Config) Create() runner.Command {
	args := []string{"create", "--name", c.ContainerName(),
		"--label", "com.docker.compose.project=" + c.Project,
		"--network", c.Network, "--init", "--workdir", Workdir}
	for _, kv := range c.Env() {
		args = append(args, "--env", kv)
	}
	args = append(args, c.Image)
	args = append(args, c.Command...)
	return docker(append(args, c.Args()...)...)
}

// CopyProject copies the project into Workdir from a tar stream (see
// WriteProject). Not --archive: docker looks that user up in the daemon
// host's user database, not the image's, and fails where the host has no
// such user. The files are root's, readable by all; Workdir itself stays
// the runner's, so that it writes its results, and any new folder, there.
func (c Config) CopyProject() runner.Command {
	cmd := docker("cp", "-", c.ContainerName()+":"+Workdir)
	cmd.StdinNote = "(" + c.Dir + "/ as a tar: " + c.copyNote() + ")"
	return cmd
}

func (c Config) copyNote() string {
	note := "without " + strings.Join(skippedNames, ", ")
	if c.Framework == Playwright {
		note += "; with " + c.WrapperFile()
	}
	return note
}

// Start runs the runner attached: its output streams to ours, Ctrl-C is
// passed on to it, and docker exits with its exit status.
func (c Config) Start() runner.Command {
	return docker("start", "--attach", c.ContainerName())
}

// CopyResults streams Results out of the container as a tar, for
// UnpackResults.
func (c Config) CopyResults() runner.Command {
	cmd := docker("cp", c.ContainerName()+":"+Results, "-")
	cmd.StdoutNote = ArtifactsDir + "/ (files and folders only: links are dropped)"
	return cmd
}

// Remove removes the runner container, stopping it if it still runs.
func (c Config) Remove() runner.Command {
	return docker("rm", "--force", c.ContainerName())
}

// Teardown says whether the test stack comes down after the run: always,
// unless KEEP=1 asked to keep it for debugging; an interrupted run comes
// down even then (Ctrl-C stops the runner and the stack).
func (c Config) Teardown(interrupted bool) bool { return interrupted || !c.Keep }

// CopyAfter says whether the results are copied after the runner ended with
// err: whether it passed or failed (a failure's traces matter most), not
// when it was interrupted or never started.
func CopyAfter(err error, interrupted bool) bool {
	if interrupted {
		return false
	}
	var exit *runner.ExitError
	return err == nil || errors.As(err, &exit)
}

// Failed is the error test:e2e returns when the runner exited non-zero: it
// wraps the runner's ExitError, so that the tool exits with its status.
func Failed(err error, artifacts bool) error {
	var exit *runner.ExitError
	if !errors.As(err, &exit) {
		return err
	}
	where := "it left no results"
	if artifacts {
		where = "reports, traces and screenshots are in " + ArtifactsDir + "/"
	}
	return fmt.Errorf("the browser tests failed (the runner exited %d; %s): %w", exit.Code, where, err)
}
