package certs

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEnsureSelfSignedWritesAUsablePairOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ssl")
	now := time.Now()
	names := []string{"localhost", "www.localhost", "127.0.0.1"}
	wrote, err := EnsureSelfSigned(dir, names, now)
	if err != nil || !wrote {
		t.Fatalf("first call: wrote=%v err=%v", wrote, err)
	}
	info, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, err %v; want 0600", info.Mode().Perm(), err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, n := range names {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: n, Roots: pool}); err != nil {
			t.Errorf("a client trusting the certificate cannot verify %s: %v", n, err)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, CertFile))
	if wrote, err := EnsureSelfSigned(dir, names, now); err != nil || wrote {
		t.Fatalf("second call must keep the pair: wrote=%v err=%v", wrote, err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, CertFile))
	if string(before) != string(after) {
		t.Fatal("certificate changed")
	}
	// A new name, or an expired certificate, makes a new pair.
	if wrote, _ := EnsureSelfSigned(dir, append(names, "other.example"), now); !wrote {
		t.Fatal("a missing name must regenerate")
	}
	if wrote, _ := EnsureSelfSigned(dir, names, now.Add(SelfSignedValidity+time.Hour)); !wrote {
		t.Fatal("an expired certificate must regenerate")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("left temp files: %v", entries)
	}
}

func TestReadRejectsNonCertificate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(path, []byte("not a pem"), 0o644)
	if _, err := Read(path); err == nil {
		t.Fatal("want an error")
	}
}
