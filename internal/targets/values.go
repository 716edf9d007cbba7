package targets

import (
	"fmt"

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
func (s *session) checkValues() error {
	for _, c := range checkedValues {
		v, ok := s.env.Get(c.key)
		if !ok || v == "" {
			continue
		}
		if err := c.rule(v); err != nil {
			return fmt.Errorf("%s %w", s.label(c.key), err)
		}
	}
	return nil
}

// maxShown bounds a value quoted in a message.
const maxShown = 80

// label names key for a message: with its value when the value is not a
// secret (nor contains one) and is short, and with the file it comes from.
func (s *session) label(key string) string {
	v := s.env.Value(key)
	if s.mask.Hides(v) || len(v) > maxShown {
		return fmt.Sprintf("%s (from %s)", key, s.env.Source(key))
	}
	return fmt.Sprintf("%s=%q (from %s)", key, v, s.env.Source(key))
}

// shown quotes a command-line word for a message, truncated.
func shown(v string) string {
	if len(v) > maxShown {
		v = v[:maxShown] + "…"
	}
	return fmt.Sprintf("%q", v)
}
