// Package certs makes the development certificates nginx serves and reads
// certificates to decide whether certbot has work to do.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// File names nginx reads, the same as certbot's live folder uses.
const (
	CertFile = "fullchain.pem"
	KeyFile  = "privkey.pem"
)

// SelfSignedValidity is how long a generated certificate lasts.
const SelfSignedValidity = 397 * 24 * time.Hour

// EnsureSelfSigned writes a self-signed certificate for names into dir unless
// a certificate there already covers them and is valid at now. It reports
// whether it wrote one. The key is written with mode 0600.
//
// The pair is never mismatched, even with concurrent runs (six `stack:up`
// at once): the check and the write happen under an exclusive flock on dir
// itself, so one run writes and the others find its pair valid. Each file
// is replaced atomically; a reader that takes the shared lock (ReadPair)
// never sees half a pair, and nginx reads the pair only after the run that
// wrote it returned.
func EnsureSelfSigned(dir string, names []string, now time.Time) (bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	unlock, err := lockDir(dir, syscall.LOCK_EX)
	if err != nil {
		return false, err
	}
	defer unlock()
	// A CA made by an earlier version is replaced by a leaf (see SelfSigned).
	if cert, err := Read(filepath.Join(dir, CertFile)); err == nil && !cert.IsCA && Covers(cert, names) && now.Before(cert.NotAfter) && !now.Before(cert.NotBefore) {
		// The key must be the certificate's: a run killed between the two
		// renames below leaves a new key beside the old certificate, which
		// nginx would refuse for good. Such a pair is made again.
		if _, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)); err == nil {
			return false, nil
		}
	}
	certPEM, keyPEM, err := SelfSigned(names, now)
	if err != nil {
		return false, err
	}
	if err := writeAtomic(filepath.Join(dir, KeyFile), keyPEM, 0o600); err != nil {
		return false, err
	}
	return true, writeAtomic(filepath.Join(dir, CertFile), certPEM, 0o644)
}

// ReadPair reads the certificate and key of dir under a shared lock, so it
// never reads while EnsureSelfSigned writes, and checks that they match.
func ReadPair(dir string) (tls.Certificate, error) {
	unlock, err := lockDir(dir, syscall.LOCK_SH)
	if err != nil {
		return tls.Certificate{}, err
	}
	defer unlock()
	return tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
}

// lockDir takes a flock on the directory itself: no lock file to leave
// behind, and a lock per open file description, so two runs (processes or
// goroutines) exclude each other.
func lockDir(dir string, how int) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: lock: %w", dir, err)
	}
	return func() { f.Close() }, nil // closing the descriptor releases the lock
}

// SelfSigned returns a PEM certificate and PEM private key for names (DNS
// names or IP addresses), valid from now. It is a self-signed leaf, not a
// CA: a client that trusts it trusts this one certificate for these names,
// never one its key would sign (the key sits in a checkout).
func SelfSigned(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if len(names) == 0 {
		return nil, nil, errors.New("a certificate needs at least one name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0], Organization: []string{"dtx_website development"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(SelfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// Read parses the first certificate of a PEM file (the leaf of a chain).
func Read(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

// Covers tells whether cert is valid for every name (SAN, as browsers check).
func Covers(cert *x509.Certificate, names []string) bool {
	for _, n := range names {
		if cert.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// Names are the DNS names and IP addresses in the certificate's SAN.
func Names(cert *x509.Certificate) []string {
	names := slices.Clone(cert.DNSNames)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
