package stack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/joho/godotenv"
	"golang.org/x/mod/semver"
)

// Env is the configuration of one environment after precedence is applied:
// the process environment wins over the .local file, which wins over the
// committed env file. It is what docker compose itself sees, because the
// tool passes the same files to it with --env-file in the same order.
type Env struct {
	Environment Environment
	// Files are the env files that exist, relative to the project root, in
	// increasing precedence (the committed file, then the .local one).
	Files []string

	fromFiles map[string]string // merged file values
	origin    map[string]string // key -> the file it came from
	lookup    func(string) (string, bool)
	secrets   []string
}

// LoadEnv reads the env files of e under root. lookup reads the process
// environment (os.LookupEnv in production, a map in tests).
func LoadEnv(root string, e Environment, lookup func(string) (string, bool)) (*Env, error) {
	env := &Env{Environment: e, fromFiles: map[string]string{}, origin: map[string]string{}, lookup: lookup}
	for i, rel := range []string{e.EnvFile, e.LocalEnvFile()} {
		values, err := ReadEnvFile(filepath.Join(root, rel), rel)
		if errors.Is(err, fs.ErrNotExist) {
			if i == 0 {
				return nil, fmt.Errorf("%s: env file of environment %q is missing: restore it from git (git checkout -- %s)", rel, e.Name, rel)
			}
			continue // the .local file is optional
		}
		if err != nil {
			return nil, err
		}
		env.Files = append(env.Files, rel)
		for _, k := range sortedKeys(values) {
			env.fromFiles[k] = values[k]
			env.origin[k] = rel
			if i == 1 || IsSecretKey(k) {
				env.secrets = append(env.secrets, values[k])
			}
		}
	}
	return env, nil
}

// ReadEnvFile parses one env file with godotenv. A syntax error names the
// file (as shown) and the first line that does not parse.
func ReadEnvFile(path, shown string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	values, err := godotenv.UnmarshalBytes(data)
	if err == nil {
		return values, nil
	}
	// godotenv does not say where it stopped; the first prefix of lines that
	// fails to parse ends at the culprit (an unclosed quote fails on the line
	// that opens it, which is where the user must look).
	lines := strings.SplitAfter(string(data), "\n")
	for n := 1; n <= len(lines); n++ {
		if _, perr := godotenv.Unmarshal(strings.Join(lines[:n], "")); perr != nil {
			return nil, fmt.Errorf("%s:%d: cannot parse %q: write KEY=value, quote values with spaces or #", shown, n, strings.TrimSpace(lines[n-1]))
		}
	}
	return nil, fmt.Errorf("%s: cannot parse: %v", shown, err)
}

// Get returns the value of key after precedence, and whether it is set at all.
func (e *Env) Get(key string) (string, bool) {
	if v, ok := e.lookup(key); ok {
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
	if _, ok := e.lookup(key); ok {
		return "the process environment"
	}
	if f, ok := e.origin[key]; ok {
		return f
	}
	return e.Environment.EnvFile + " (unset)"
}

// Secrets are the values that must never be printed: every value of a
// .local file and of keys named like secrets, from files or the process
// environment (for the keys the files name, and for secret-named keys in
// environ).
func (e *Env) Secrets(environ []string) []string {
	secrets := append([]string(nil), e.secrets...)
	for k := range e.fromFiles {
		if v, ok := e.lookup(k); ok && IsSecretKey(k) {
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

// Version returns VERSION, checked to be semver (1.2.3, optionally with a
// leading v, a pre-release or build suffix).
func (e *Env) Version() (string, error) {
	v, ok := e.Get("VERSION")
	if !ok || v == "" {
		return "", fmt.Errorf("VERSION is not set: set it in %s (for example VERSION=1.2.3)", e.Environment.EnvFile)
	}
	if !semver.IsValid("v"+strings.TrimPrefix(v, "v")) || strings.Count(strings.SplitN(strings.SplitN(v, "-", 2)[0], "+", 2)[0], ".") != 2 {
		return "", fmt.Errorf("VERSION=%q from %s is not a semantic version: use MAJOR.MINOR.PATCH, for example 1.2.3", v, e.Source("VERSION"))
	}
	return v, nil
}
