package stack

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/sirupsen/logrus"
	"golang.org/x/mod/semver"
)

// Env is the configuration of one environment as docker compose computes it
// from the same files: the process environment wins over the .local file,
// which wins over the committed env file, and ${…} in the files is
// interpolated on the way (from the process, then from what the files set
// before). The values are compose-go's own: the files are read by
// compose-go's dotenv, the reader docker compose uses for --env-file.
type Env struct {
	Environment Environment
	// Files are the env files that exist, relative to the project root, in
	// increasing precedence (the committed file, then the .local one).
	Files []string

	process   map[string]string // the process environment
	fromFiles map[string]string // the files' values, merged and interpolated
	origin    map[string]string // key -> the last file that sets it
	keysOf    map[string][]string
	warnings  []string
}

// LoadEnv reads the env files of e under root. environ is the process
// environment (KEY=value, os.Environ in production): it wins over the files
// and is what ${…} in them reads first, as in docker compose.
func LoadEnv(root string, e Environment, environ []string) (*Env, error) {
	// compose-go's interpolation warns through logrus about each unset
	// variable, on stderr and without the file's name; an unset variable
	// is empty, as for compose, and the errors say what matters.
	logrus.SetOutput(io.Discard)
	env := &Env{Environment: e, process: environMap(environ), fromFiles: map[string]string{}, origin: map[string]string{}, keysOf: map[string][]string{}}
	var paths []string
	for i, rel := range []string{e.EnvFile, e.LocalEnvFile()} {
		local := i == 1
		data, warning, err := readEnvFile(filepath.Join(root, rel), rel, local)
		if errors.Is(err, fs.ErrNotExist) {
			if !local {
				return nil, fmt.Errorf("%s: env file of environment %q is missing: restore it from git (git checkout -- %s)", rel, e.Name, rel)
			}
			continue // the .local file is optional
		}
		if err != nil {
			return nil, err
		}
		if warning != "" {
			env.warnings = append(env.warnings, warning)
		}
		paths = append(paths, filepath.Join(root, rel))
		// The keys this file sets, each file on its own; the values come from
		// compose-go reading all the files at once below.
		keys, err := parseKeys(data, rel, local, env.process, env.fromFiles)
		if err != nil {
			return nil, err
		}
		merged, err := dotenv.GetEnvFromFile(env.process, paths)
		if err != nil {
			// compose-go's message echoes the line; say where instead.
			return nil, fmt.Errorf("%s: cannot parse: %s", rel, redactedCause(err))
		}
		env.Files = append(env.Files, rel)
		env.fromFiles = merged
		set := map[string]bool{}
		for _, k := range keys {
			env.origin[k] = rel
			set[k] = k != ""
		}
		for _, k := range sortedKeys(set) {
			if set[k] {
				env.keysOf[rel] = append(env.keysOf[rel], k)
			}
		}
	}
	return env, nil
}

// environMap is the process environment as compose-go reads it: KEY=value
// entries, the last of a key winning, entries without = left out.
func environMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Get returns the value of key after precedence, and whether it is set at
// all: the process environment's, else the env files'.
func (e *Env) Get(key string) (string, bool) {
	if v, ok := e.process[key]; ok {
		return v, true
	}
	v, ok := e.fromFiles[key]
	return v, ok
}

// Value returns the value of key, or "" when it is unset.
func (e *Env) Value(key string) string {
	v, _ := e.Get(key)
	return v
}

// Source says where the value of key comes from, for error messages.
func (e *Env) Source(key string) string {
	if _, ok := e.process[key]; ok {
		return "the process environment"
	}
	if f, ok := e.origin[key]; ok {
		return f
	}
	return e.Environment.EnvFile + " (unset)"
}

// Keys are the variables the env files set, sorted: the ones the services
// get through env_file.
func (e *Env) Keys() []string {
	keys := sortedKeys(e.origin)
	if len(keys) > 0 && keys[0] == "" {
		keys = keys[1:] // compose-go sets "" for a last line without = or newline; no service can take it
	}
	return keys
}

// KeysOf are the variables the env file rel (one of Files) sets, sorted.
func (e *Env) KeysOf(rel string) []string { return slices.Clone(e.keysOf[rel]) }

// Warnings are the one-line warnings about the env files (a .local file
// readable by group or others), for the targets to print and check to report.
func (e *Env) Warnings() []string { return append([]string(nil), e.warnings...) }

// IsLocalOrSecret tells whether the value of key must not be printed: it is
// set in a .local file, or its name says it is a secret.
func (e *Env) IsLocalOrSecret(key string) bool {
	return IsSecretKey(key) || e.origin[key] == e.Environment.LocalEnvFile()
}

// Secrets are the values that must never be printed: the value of every key
// a .local file sets and of keys named like secrets, from the files or the
// process environment (for the keys the files name, and for secret-named
// keys in environ).
func (e *Env) Secrets(environ []string) []string {
	var secrets []string
	for _, k := range sortedKeys(e.origin) { // "" too: a .local's last word without = or newline

		if !e.IsLocalOrSecret(k) {
			continue
		}
		secrets = append(secrets, e.fromFiles[k])
		if v, ok := e.process[k]; ok {
			secrets = append(secrets, v)
		}
	}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && IsSecretKey(k) {
			secrets = append(secrets, v)
		}
	}
	return secrets
}

// IsSecretKey tells whether a variable holds a secret by its name.
func IsSecretKey(key string) bool {
	k := strings.ToUpper(key)
	for _, suffix := range []string{"SECRET", "PASSWORD", "TOKEN", "KEY"} {
		if k == suffix || strings.HasSuffix(k, "_"+suffix) {
			return true
		}
	}
	return false
}

// Registry is REGISTRY, or DefaultRegistry when it is unset or empty.
func (e *Env) Registry() string {
	if r := strings.TrimSuffix(e.Value("REGISTRY"), "/"); r != "" {
		return r
	}
	return DefaultRegistry
}

// Version returns VERSION, checked by the one rule every target and
// version:* use (CheckVersion).
func (e *Env) Version() (string, error) {
	v, ok := e.Get("VERSION")
	if !ok || v == "" {
		return "", fmt.Errorf("VERSION is not set: set it in %s (for example VERSION=1.2.3)", e.Environment.EnvFile)
	}
	if err := checkVersion(v); err != nil {
		return "", fmt.Errorf("%s (from %s) %s", e.shown("VERSION"), e.Source("VERSION"), e.hideIfSecret("VERSION", v, err.Error()))
	}
	return v, nil
}

// CheckVersion is the rule for VERSION, the images' tag: MAJOR.MINOR.PATCH
// with an optional pre-release (1.2.3, 1.2.3-rc.1). No leading v: VERSION
// is the image tag, and the git tag adds the v (v1.2.3). No build metadata:
// + is not valid in an image tag.
func CheckVersion(v string) error {
	if err := checkVersion(v); err != nil {
		return fmt.Errorf("%q %w", Clip(v), err)
	}
	return nil
}

// VersionRule is CheckVersion's reason alone ("is not a semantic version:
// …"), for a message that names the variable and its source itself.
func VersionRule(v string) error { return checkVersion(v) }

func checkVersion(v string) error {
	core, _, _ := strings.Cut(v, "-")
	core, _, _ = strings.Cut(core, "+")
	valid := semver.IsValid("v"+strings.TrimPrefix(v, "v")) && strings.Count(core, ".") == 2
	switch {
	case valid && strings.HasPrefix(v, "v"):
		return fmt.Errorf("is not a version: drop the leading v (%s); VERSION is the images' tag, the git tag adds the v", Clip(strings.TrimPrefix(v, "v")))
	case valid && strings.Contains(v, "+"):
		_, build, _ := strings.Cut(v, "+")
		return fmt.Errorf("has build metadata (+%s): + is not valid in an image tag; drop it, or make it a pre-release (-%s)", Clip(build), Clip(build))
	case !valid || strings.Contains(v, "+"):
		return fmt.Errorf("is not a semantic version: use MAJOR.MINOR.PATCH, for example 1.2.3 (a pre-release like 1.2.3-rc.1 is fine; no v, no +build)")
	}
	return nil
}

// hideIfSecret is msg with value's parts replaced by … when key's value
// must not be printed.
func (e *Env) hideIfSecret(key, value, msg string) string {
	if !e.IsLocalOrSecret(key) {
		return msg
	}
	if _, build, ok := strings.Cut(value, "+"); ok && build != "" {
		msg = strings.ReplaceAll(msg, Clip(build), "…")
	}
	return strings.ReplaceAll(msg, Clip(strings.TrimPrefix(value, "v")), "…")
}

// shown is KEY="value" for a message, the value clipped; only KEY when the
// value must not be printed.
func (e *Env) shown(key string) string {
	if e.IsLocalOrSecret(key) {
		return Clip(key)
	}
	return fmt.Sprintf("%s=%q", Clip(key), Clip(e.Value(key)))
}

// MaxShown is how many characters of a value or a name a message shows.
const MaxShown = 80

// Clip shortens s to MaxShown characters, with an ellipsis when it cut, so a
// 5 MB value or name never fills the terminal.
func Clip(s string) string {
	n := 0
	for i := range s {
		if n == MaxShown {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// sortedKeys is a small helper for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
