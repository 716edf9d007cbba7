package targets

import (
	"context"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// prod:certbot with STACK=swarm is the swarm's certbot (internal/swarm
// tests its run): certbot hands the challenges to the tool's hook.
func TestCertbotStackSwarm(t *testing.T) {
	root := project(t)
	o, _, log := options(root, true, "DOCKER_HOST=unix:///nonexistent/docker.sock", "STACK=swarm", "DOMAIN=example.com")
	if err := o.Do(func(o *session.Session) error { return Certbot(context.Background(), o) }); err != nil {
		t.Fatalf("dry run: %v\n%s", err, log)
	}
	if !strings.Contains(log.String(), "--manual-auth-hook") || !strings.Contains(log.String(), ACMEHookFlag+" auth") {
		t.Errorf("STACK=swarm did not run certbot with the swarm's hook:\n%s", log)
	}
}
