package certbot

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// prodProject is a project root with the prod environment's compose and
// env files, copied from the repository.
func prodProject(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	e, err := stack.LookupEnvironment("prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{e.ComposeFile, e.EnvFile} {
		data, err := os.ReadFile(filepath.Join("..", "..", rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// A TLS server on 127.0.0.1 stands in for nginx: confirmServed passes when
// it serves the certificate on disk and fails, naming both serials, when it
// serves another.
func TestConfirmServed(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	if _, err := certs.EnsureSelfSigned(filepath.Join(dir, "served"), []string{"dtx.test"}, now); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "served", certs.CertFile), filepath.Join(dir, "served", certs.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())

	var log bytes.Buffer
	o := session.New(session.Config{Root: prodProject(t), Environ: []string{"HTTPS_PORT=" + port}, Stderr: &log})
	s, err := o.Open("prod")
	if err != nil {
		t.Fatal(err)
	}
	if err := confirmServed(context.Background(), s, "dtx.test", filepath.Join(dir, "served", certs.CertFile)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "nginx serves the certificate for dtx.test on 127.0.0.1:"+port) {
		t.Fatalf("log: %s", log.String())
	}

	other := filepath.Join(dir, "other")
	certs.EnsureSelfSigned(other, []string{"dtx.test"}, now)
	defer func(d time.Duration) { ConfirmTimeout = d }(ConfirmTimeout)
	ConfirmTimeout = 500 * time.Millisecond
	err = confirmServed(context.Background(), s, "dtx.test", filepath.Join(other, certs.CertFile))
	if err == nil || !strings.Contains(err.Error(), "nginx was reloaded but still serves serial") {
		t.Fatalf("err = %v", err)
	}
	os.RemoveAll(other)
}
