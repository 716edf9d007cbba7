// Package validate holds the rules for the values the tool passes on: to
// certificates, certbot, docker, compose and nginx's renderer. Each rule
// returns an error that says what is wrong and what is allowed, without
// repeating the value (it may be a secret): the caller names the variable
// and decides whether its value can be shown.
package validate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/distribution/reference"
)

// Plain refuses control characters (CR, LF, tab, NUL, DEL, C1) and invalid
// UTF-8: a value that reaches a config file or a header must stay on its line.
func Plain(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("is not valid UTF-8: use plain text")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains a control character (U+%04X): remove it; line breaks, tabs and other control characters are not allowed", r)
		}
	}
	return nil
}

const dnsHint = "use a DNS name such as example.com: dot-separated labels of a-z, 0-9 and '-', each 1 to 63 characters, not starting or ending with '-', 253 characters at most"

// DNSName checks a host name as certificates, certbot and nginx's
// server_name take it: lower-case ASCII labels. An internationalized name is
// refused with a hint to write its punycode (xn--) form, which is what
// certificates carry; the tool does not convert it (golang.org/x/net/idna
// is not among its dependencies).
func DNSName(v string) error {
	if v == "" {
		return errors.New("is empty: " + dnsHint)
	}
	if err := Plain(v); err != nil {
		return err
	}
	for _, r := range v {
		if r > unicode.MaxASCII {
			return errors.New("is an internationalized name: write its ASCII (punycode) form, e.g. xn--mnchen-3ya.de for münchen.de (`idn2 NAME` prints it)")
		}
	}
	if len(v) > 253 {
		return fmt.Errorf("is %d characters long: %s", len(v), dnsHint)
	}
	labels := strings.Split(v, ".")
	for i, label := range labels {
		n := i + 1
		switch {
		case label == "" && i > 0 && i == len(labels)-1:
			return errors.New("ends with a dot: write the name without it, e.g. example.com")
		case label == "":
			return fmt.Errorf("has an empty label (label %d): %s", n, dnsHint)
		case len(label) > 63:
			return fmt.Errorf("has a label of %d characters (label %d): %s", len(label), n, dnsHint)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("has a label starting or ending with '-' (label %d): %s", n, dnsHint)
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			case r >= 'A' && r <= 'Z':
				return errors.New("has upper-case letters: write it in lower case, as certificates and certbot's folders name it")
			default:
				return fmt.Errorf("contains %s (label %d): %s", describe(r), n, dnsHint)
			}
		}
	}
	return nil
}

// Email checks an account e-mail for certbot: a bare addr-spec
// (local@domain), no display name, not starting with '-' (certbot would
// read it as an option).
func Email(v string) error {
	const hint = "use a plain address such as admin@example.com (no name, no <>, no spaces)"
	if err := Plain(v); err != nil {
		return err
	}
	if strings.HasPrefix(v, "-") {
		return errors.New("starts with '-': " + hint)
	}
	if strings.ContainsAny(v, "<>") {
		return errors.New("has a display name or angle brackets: " + hint)
	}
	local, domain, ok := strings.Cut(v, "@")
	if !ok || strings.Contains(domain, "@") {
		return errors.New("needs exactly one '@': " + hint)
	}
	if local == "" || len(local) > 64 || strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return errors.New("has an invalid part before '@': " + hint)
	}
	for _, r := range local {
		if !(r < unicode.MaxASCII && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+/=?^_`{|}~-.", r))) {
			return fmt.Errorf("contains %s before '@': %s", describe(r), hint)
		}
	}
	if err := DNSName(strings.ToLower(domain)); err != nil {
		return fmt.Errorf("has an invalid domain after '@' (it %s)", err)
	}
	return nil
}

// Port checks a TCP port: a decimal number from 1 to 65535.
func Port(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 || strings.HasPrefix(v, "+") || strings.HasPrefix(v, "0") {
		return errors.New("is not a port: use a number from 1 to 65535")
	}
	return nil
}

// Count checks a whole number from 1 to 99999 (a burst, a connection or
// PIDs limit, CPU shares), written plainly.
func Count(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 99999 || strings.HasPrefix(v, "+") || strings.HasPrefix(v, "0") {
		return errors.New("is not a count: use a whole number from 1 to 99999")
	}
	return nil
}

// Rate checks an nginx request rate: N requests a second (20r/s) or a
// minute (600r/m).
func Rate(v string) error {
	n, unit, ok := strings.Cut(v, "r/")
	if !ok || (unit != "s" && unit != "m") || Count(n) != nil {
		return errors.New("is not a rate: use Nr/s or Nr/m, for example 20r/s")
	}
	return nil
}

// Registry checks a registry and repository prefix (ghcr.io/owner/project,
// 127.0.0.1:5000/dtx) as the distribution reference grammar allows it in
// front of an image name, without a tag or digest.
func Registry(v string) error {
	const hint = "use a registry and path such as ghcr.io/owner/project or 127.0.0.1:5000/dtx: lower-case path components, no tag, no spaces"
	if err := Plain(v); err != nil {
		return err
	}
	if strings.HasPrefix(v, "-") {
		return errors.New("starts with '-': " + hint)
	}
	ref, err := reference.Parse(v + "/x")
	if err != nil {
		return errors.New("is not a valid registry path: " + hint)
	}
	if _, tagged := ref.(reference.Tagged); tagged {
		return errors.New("has a tag: " + hint)
	}
	if _, digested := ref.(reference.Digested); digested {
		return errors.New("has a digest: " + hint)
	}
	return nil
}

// ImageRef checks a full image reference (name[:tag][@digest]) against the
// distribution reference grammar, which docker applies: a tag is 1 to 128
// of A-Z a-z 0-9 _ . - and does not start with '.' or '-' (so semver build
// metadata, 1.2.3+build.5, is not a valid tag).
func ImageRef(v string) error {
	const hint = "an image is REGISTRY/NAME:TAG, the tag 1 to 128 of A-Z a-z 0-9 _ . - (no '+', not starting with '.' or '-')"
	if err := Plain(v); err != nil {
		return err
	}
	if strings.HasPrefix(v, "-") {
		return errors.New("starts with '-': " + hint)
	}
	if _, err := reference.Parse(v); err != nil {
		return fmt.Errorf("is not a valid image reference (%v): %s", err, hint)
	}
	return nil
}

// Tag checks an image tag (VERSION tags the images).
func Tag(v string) error {
	if !reference.TagRegexp.MatchString(v) || reference.TagRegexp.FindString(v) != v {
		return errors.New("is not a valid image tag: use 1 to 128 of A-Z a-z 0-9 _ . - , not starting with '.' or '-' (no '+build' suffix)")
	}
	return nil
}

// Upstream checks a host:port nginx proxies to, with the characters nginx's
// renderer accepts.
func Upstream(v string) error {
	const hint = "use HOST:PORT such as backend:8000 (A-Z a-z 0-9 . _ - and one ':')"
	if err := Plain(v); err != nil {
		return err
	}
	host, port, ok := strings.Cut(v, ":")
	if !ok || host == "" || strings.HasPrefix(host, "-") {
		return errors.New("is not HOST:PORT: " + hint)
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r)) {
			return fmt.Errorf("contains %s: %s", describe(r), hint)
		}
	}
	if Port(port) != nil {
		return errors.New("has no valid port (1 to 65535): " + hint)
	}
	return nil
}

// HeaderValue checks a value nginx puts in an HTTP header (HSTS_HEADER):
// no control characters (a CR LF would start another header) and none of
// '"', '\' or '$', which nginx's configuration syntax would interpret.
func HeaderValue(v string) error {
	if err := Plain(v); err != nil {
		return err
	}
	if strings.ContainsAny(v, "\"\\$") {
		return errors.New(`contains '"', '\' or '$': use a plain header value such as max-age=63072000; includeSubDomains`)
	}
	return nil
}

// Service checks that name is one of the project's services.
func Service(name string, services []string) error {
	for _, s := range services {
		if s == name {
			return nil
		}
	}
	return fmt.Errorf("is not a service of the stack: use one of %s", strings.Join(services, ", "))
}

// describe names a character for a message without echoing odd bytes.
func describe(r rune) string {
	switch {
	case r == ' ':
		return "a space"
	case r > unicode.MaxASCII || !unicode.IsPrint(r):
		return fmt.Sprintf("the character U+%04X", r)
	default:
		return fmt.Sprintf("'%c'", r)
	}
}
