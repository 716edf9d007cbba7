package session

import (
	"fmt"

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
	{"VERSION", validate.Tag},
	{"FRONTEND_BASE_IMAGE", validate.ImageRef},
	{"BACKEND_BASE_IMAGE", validate.ImageRef},
	{"NGINX_BASE_IMAGE", validate.ImageRef},
	{"REDIS_IMAGE", validate.ImageRef},
	{"FRONTEND_UPSTREAM", validate.Upstream},
	{"BACKEND_UPSTREAM", validate.Upstream},
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

// checkValues validates the environment's values before anything runs:
// one line naming the variable, where it comes from, and what is allowed.
func (st *Stack) checkValues() error {
	for _, c := range checkedValues {
		v, ok := st.Env.Get(c.key)
		if !ok || v == "" {
			continue
		}
		if err := c.rule(v); err != nil {
			return fmt.Errorf("%s %w", st.Label(c.key), err)
		}
	}
	return nil
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
