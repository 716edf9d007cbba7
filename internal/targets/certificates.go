package targets

import (
	"context"
	"errors"
	"fmt"

	"github.com/kettleofketchup/dtx_website/internal/certbot"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// openServing opens the stack whose nginx serves the site: STACK, prod by
// default.
func openServing(o *session.Session) (*session.Stack, error) {
	name, _ := o.Lookup("STACK")
	switch name {
	case "":
		name = "prod"
	case "prod", "release":
	default:
		return nil, fmt.Errorf("STACK=%q: certificates are for the prod or release stack, or the swarm; use STACK=prod, STACK=release or STACK=swarm", name)
	}
	return o.Open(name)
}

// Certbot gets or keeps the Let's Encrypt certificate of DOMAIN and
// www.DOMAIN through the webroot the running nginx serves, then reloads
// nginx; STACK=swarm does it for the swarm stack.
func Certbot(ctx context.Context, o *session.Session) error {
	if stack, _ := o.Lookup("STACK"); stack == "swarm" {
		return SwarmCertbot(ctx, o)
	}
	s, err := openServing(o)
	if err != nil {
		return err
	}
	return certbot.Certbot(ctx, s)
}

// Renew renews every certificate that is due and reloads nginx only when
// one was renewed.
func Renew(ctx context.Context, o *session.Session) error {
	if stack, _ := o.Lookup("STACK"); stack == "swarm" {
		return errors.New("STACK=swarm: run ./dtx prod:certbot STACK=swarm instead (twice a day: it renews when 30 days or fewer are left)")
	}
	s, err := openServing(o)
	if err != nil {
		return err
	}
	return certbot.Renew(ctx, s)
}
