//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/kettleofketchup/dtx_website/internal/targets"
)

// Prod manages the production server's certificates (STACK=release for the release stack).
type Prod mg.Namespace

// Certbot gets the Let's Encrypt certificate for DOMAIN and www.DOMAIN unless it has 30+ days left, then reloads nginx.
func (Prod) Certbot(ctx context.Context) error {
	return do(func(o targets.Options) error { return targets.Certbot(ctx, o) })
}

// Renew renews the certificates that are due and reloads nginx only if one was renewed.
func (Prod) Renew(ctx context.Context) error {
	return do(func(o targets.Options) error { return targets.Renew(ctx, o) })
}
