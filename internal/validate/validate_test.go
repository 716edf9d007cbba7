package validate

import (
	"strings"
	"testing"
)

type rule struct {
	name  string
	check func(string) error
	cases []tc
}

// tc is one value: want is "" when it must pass, else a part of the error.
type tc struct {
	name, value, want string
}

func TestRules(t *testing.T) {
	services := func(v string) error { return Service(v, []string{"backend", "frontend", "nginx", "redis"}) }
	rules := []rule{
		{"DNSName", DNSName, []tc{
			{"plain", "example.com", ""},
			{"sub", "www.dota.kettle.sh", ""},
			{"localhost", "localhost", ""},
			{"digits and hyphens", "a-1.b2.example", ""},
			{"63-char label", strings.Repeat("a", 63) + ".com", ""},
			{"64-char label", strings.Repeat("a", 64) + ".com", "label of 64 characters"},
			{"254 chars", strings.Repeat("a.", 127), "is 254 characters long"},
			{"too long", strings.Repeat("abc.", 64) + "com", "is 259 characters long"},
			{"double dot", "..", "empty label (label 1)"},
			{"empty label inside", "a..b", "empty label (label 2)"},
			{"leading hyphen", "-example.com", "starting or ending with '-' (label 1)"},
			{"trailing hyphen label", "example-.com", "starting or ending with '-'"},
			{"space", "ex ample.com", "contains a space"},
			{"command substitution", "$(id).example.com", "contains '$'"},
			{"IDN", "exämple.com", "internationalized name: write its ASCII (punycode) form"},
			{"upper case", "Example.com", "lower case"},
			{"CRLF", "example.com\r\nx", "control character (U+000D)"},
			{"empty", "", "is empty"},
			{"trailing dot", "example.com.", "ends with a dot"},
			{"underscore", "a_b.example", "contains '_'"},
		}},
		{"Email", Email, []tc{
			{"plain", "admin@example.com", ""},
			{"apostrophe", "o'brien@example.com", ""},
			{"plus", "ops+certs@example.com", ""},
			{"leading dash", "--agree@example.com", "starts with '-'"},
			{"display name", "Foo <a@x.example>", "has a display name or angle brackets"},
			{"angle brackets", "<a@x.example>", "has a display name or angle brackets"},
			{"no at", "admin.example.com", "exactly one '@'"},
			{"two ats", "a@b@example.com", "exactly one '@'"},
			{"empty local", "@x.example", "invalid part before '@'"},
			{"bad domain", "a@-x.example", "invalid domain after '@'"},
			{"newline", "a@example.com\n--server=x", "control character"},
			{"space", "a b@example.com", "contains a space"},
		}},
		{"Port", Port, []tc{
			{"1", "1", ""},
			{"443", "443", ""},
			{"65535", "65535", ""},
			{"0", "0", "1 to 65535"},
			{"65536", "65536", "1 to 65535"},
			{"99999999", "99999999", "1 to 65535"},
			{"negative", "-1", "1 to 65535"},
			{"word", "https", "1 to 65535"},
			{"leading zero", "0443", "1 to 65535"},
			{"plus", "+443", "1 to 65535"},
		}},
		{"Registry", Registry, []tc{
			{"default", "ghcr.io/kettleofketchup/dtx_website", ""},
			{"local with port", "127.0.0.1:5000/dtx", ""},
			{"localhost port", "localhost:5000", ""},
			{"platform flag", "--platform=linux", "starts with '-'"},
			{"newline", "ghcr.io/a\nb", "control character"},
			{"upper case", "ghcr.io/Acme/site", "not a valid registry path"},
			{"tag", "ghcr.io/acme/site:1", "not a valid registry path"},
			{"space", "ghcr.io/ac me", "not a valid registry path"},
		}},
		{"ImageRef", ImageRef, []tc{
			{"tagged", "ghcr.io/kettleofketchup/dtx_website/frontend:0.1.0", ""},
			{"library", "nginx:1.27-alpine", ""},
			{"pre-release", "127.0.0.1:5000/dtx/nginx:1.2.3-rc.1", ""},
			{"build metadata", "ghcr.io/a/frontend:1.2.3+build.5", "not a valid image reference"},
			{"flag", "--platform=linux/nginx:0.1.0", "starts with '-'"},
			{"newline", "a/nginx\n:1", "control character"},
		}},
		{"Tag", Tag, []tc{
			{"semver", "1.2.3", ""},
			{"latest", "latest", ""},
			{"plus", "1.2.3+build.5", "not a valid image tag"},
			{"leading dot", ".1", "not a valid image tag"},
			{"129 chars", strings.Repeat("a", 129), "not a valid image tag"},
		}},
		{"Upstream", Upstream, []tc{
			{"default", "frontend:3000", ""},
			{"dotted", "api.internal:8000", ""},
			{"no port", "frontendx", "not HOST:PORT"},
			{"semicolon", "backend:8000;return", "no valid port"},
			{"space in host", "back end:80", "contains a space"},
			{"brace", "a}:80", "contains '}'"},
		}},
		{"HeaderValue", HeaderValue, []tc{
			{"hsts", "max-age=63072000; includeSubDomains", ""},
			{"empty", "", ""},
			{"CRLF injection", "max-age=1\r\nSet-Cookie: pwned=1", "control character (U+000D)"},
			{"LF", "max-age=1\nX: y", "control character (U+000A)"},
			{"tab", "max-age=1\tx", "control character (U+0009)"},
			{"DEL", "max-age=1\x7f", "control character (U+007F)"},
			{"quote", `max-age=1"`, `contains '"'`},
			{"dollar", "max-age=$x", `'$'`},
			{"bad utf-8", "max-age=\xff", "not valid UTF-8"},
		}},
		{"Service", services, []tc{
			{"known", "backend", ""},
			{"empty", "", "use one of backend, frontend, nginx, redis"},
			{"unknown", "nosuch", "is not a service of the stack"},
			{"flag", "--privileged", "is not a service of the stack"},
		}},
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			for _, c := range r.cases {
				t.Run(c.name, func(t *testing.T) {
					err := r.check(c.value)
					switch {
					case c.want == "" && err != nil:
						t.Fatalf("%q refused: %v", c.value, err)
					case c.want != "" && err == nil:
						t.Fatalf("%q accepted, want an error containing %q", c.value, c.want)
					case c.want != "" && !strings.Contains(err.Error(), c.want):
						t.Fatalf("%q: error %q does not contain %q", c.value, err, c.want)
					case err != nil && strings.Contains(err.Error(), "\n"):
						t.Fatalf("%q: error is not one line: %q", c.value, err)
					case err != nil && len(c.value) >= 4 && strings.Contains(err.Error(), c.value):
						t.Fatalf("%q: the error repeats the value: %q", c.value, err)
					}
				})
			}
		})
	}
}

func TestCountAndRate(t *testing.T) {
	for _, c := range []struct {
		name string
		rule func(string) error
		v    string
		ok   bool
	}{
		{"count", Count, "40", true},
		{"count 99999", Count, "99999", true},
		{"count zero", Count, "0", false},
		{"count leading zero", Count, "040", false},
		{"count too big", Count, "100000", false},
		{"count with a sign", Count, "+4", false},
		{"count with syntax", Count, "4; x", false},
		{"rate per second", Rate, "20r/s", true},
		{"rate per minute", Rate, "600r/m", true},
		{"rate without unit", Rate, "20", false},
		{"rate per hour", Rate, "20r/h", false},
		{"rate zero", Rate, "0r/s", false},
		{"rate with syntax", Rate, "20r/s;", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.rule(c.v); (err == nil) != c.ok {
				t.Errorf("%q: error %v, want ok=%v", c.v, err, c.ok)
			}
		})
	}
}
