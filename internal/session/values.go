package session

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/stack"
	"github.com/kettleofketchup/dtx_website/internal/validate"
)

// checkedValues are the variables the tool or nginx's renderer passes on,
// each with its rule; an unset or empty one is left to the code that needs
// it (DOMAIN is empty, no e-mail…).
var checkedValues = []struct {
	key  string
	rule func(string) error
}{
	{"DOMAIN", validate.DNSName},
	{"HTTP_PORT", validate.Port},
	{"HTTPS_PORT", validate.Port},
	{"PUBLIC_HTTPS_PORT", validate.Port},
	{"CERTBOT_EMAIL", validate.Email},
	{"REGISTRY", validate.Registry},
	{"VERSION", stack.VersionRule},
	{"HSTS_HEADER", validate.HeaderValue},
	{"CONTENT_TYPE_OPTIONS_HEADER", validate.HeaderValue},
	{"FRAME_OPTIONS_HEADER", validate.HeaderValue},
	{"CSP_HEADER", validate.HeaderValue},
	{"REFERRER_POLICY_HEADER", validate.HeaderValue},
	{"BACKEND_RATE_LIMIT", validate.Rate},
	{"BACKEND_RATE_BURST", validate.Count},
	{"BACKEND_CONN_LIMIT", validate.Count},
	{"CPU_SHARES", validate.Count},
	{"PIDS_LIMIT", validate.Count},
	{"LOG_MAX_FILE", validate.Count},
	{"PUBLISH_ADDRESS", validate.Plain},
	{"ACME_SERVER", validate.Plain},
	{"STAGING", validate.Plain},
	{"FORCE", validate.Plain},
}

// checkedSuffixes are rules for variables by the end of their name, for
// the variables a compose file introduces with the services it declares:
// a base image or an image (FRONTEND_BASE_IMAGE, REDIS_IMAGE) passed as a
// build argument or interpolated into image:, and the proxy's upstreams
// (BACKEND_UPSTREAM=backend:8000).
var checkedSuffixes = []struct {
	suffix string
	rule   func(string) error
}{
	{"_IMAGE", validate.ImageRef},
	{"_UPSTREAM", validate.Upstream},
}

// checkValues validates the environment's values before anything runs:
// one line naming the variable, where it comes from, and what is allowed.
func (st *Stack) checkValues() error {
	for _, c := range checkedValues {
		if err := st.checkValue(c.key, c.rule); err != nil {
			return err
		}
	}
	keys := append(st.Env.Keys(), environKeys(st.Environ)...)
	sort.Strings(keys)
	for _, key := range slices.Compact(keys) {
		for _, c := range checkedSuffixes {
			if strings.HasSuffix(key, c.suffix) {
				if err := st.checkValue(key, c.rule); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (st *Stack) checkValue(key string, rule func(string) error) error {
	v, ok := st.Env.Get(key)
	if !ok || v == "" {
		return nil
	}
	if err := rule(v); err != nil {
		return fmt.Errorf("%s %w", st.Label(key), err)
	}
	return nil
}

func environKeys(environ []string) []string {
	var keys []string
	for _, kv := range environ {
		if k, _, ok := strings.Cut(kv, "="); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// Label names key for a message: with its value when the value is not a
// secret (nor contains one) and is short, and with the file it comes from.
func (st *Stack) Label(key string) string {
	v := st.Env.Value(key)
	if st.Hides(v) || len(v) > stack.MaxShown {
		return fmt.Sprintf("%s (from %s)", key, st.Env.Source(key))
	}
	return fmt.Sprintf("%s=%q (from %s)", key, v, st.Env.Source(key))
}

// Shown quotes a command-line word for a message, clipped.
func Shown(v string) string { return fmt.Sprintf("%q", stack.Clip(v)) }
