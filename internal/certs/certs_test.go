package certs

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
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

// The self-signed certificate is a leaf: it cannot sign another one that a
// client trusting it would accept, yet a client trusting it accepts it.
func TestSelfSignedIsALeafNotACA(t *testing.T) {
	certPEM, keyPEM, err := SelfSigned([]string{"dtx.test", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if leaf.IsCA || leaf.KeyUsage&x509.KeyUsageCertSign != 0 {
		t.Fatalf("IsCA %v, key usage %b", leaf.IsCA, leaf.KeyUsage)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "dtx.test"}); err != nil {
		t.Fatalf("a client trusting it refuses it: %v", err)
	}
	// A certificate its key signs for another name is not trusted.
	other := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "bank.example"}, DNSNames: []string{"bank.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, other, leaf, pair.PrivateKey.(crypto.Signer).Public(), pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := x509.ParseCertificate(der)
	if _, err := forged.Verify(x509.VerifyOptions{Roots: roots, DNSName: "bank.example"}); err == nil {
		t.Fatal("a certificate signed by the self-signed key is trusted")
	}
}

// A run killed between writing the new key and the new certificate leaves
// a mismatched pair: the next run sees it and makes a matched one.
func TestMismatchedPairIsMadeAgain(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	names := []string{"localhost"}
	if _, err := EnsureSelfSigned(dir, names, now); err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := SelfSigned(names, now)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, KeyFile), otherKey, 0o600) // the key of the next pair, its certificate never written
	if _, err := ReadPair(dir); err == nil {
		t.Fatal("the test did not make a mismatched pair")
	}
	wrote, err := EnsureSelfSigned(dir, names, now)
	if err != nil || !wrote {
		t.Fatalf("wrote %v, err %v: a mismatched pair was kept", wrote, err)
	}
	if _, err := ReadPair(dir); err != nil {
		t.Fatalf("still mismatched: %v", err)
	}
}
