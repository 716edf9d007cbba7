package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/testenv"
)

// acme is a running Pebble with pebble-challtestsrv as its DNS server, every
// name resolving to 127.0.0.1, both bound to 127.0.0.1 and stopped by PID.
type acme struct {
	dir        string // Pebble's directory URL
	mgmt       string // Pebble's management URL
	dnsMgmt    string // challtestsrv's management URL
	caBundle   string // the CA of Pebble's own HTTPS endpoint, for certbot
	httpClient *http.Client
}

// blockedDomain is refused by Pebble's policy (domainBlocklist): an error the
// ACME server itself returns.
const blockedDomain = "blocked-domain.example"

func pebbleDir(t *testing.T) string {
	dir := os.Getenv("PEBBLE_TEST_DIR")
	if dir == "" {
		testenv.Missing(t, "PEBBLE_TEST_DIR is unset: source the env.sh that .ci/engine.sh up writes")
	}
	return dir
}

// startACME starts challtestsrv and Pebble. Pebble validates HTTP-01
// challenges on httpPort, where the stack's nginx listens.
func startACME(t *testing.T, httpPort string) *acme {
	t.Helper()
	testDir := pebbleDir(t)
	for _, bin := range []string{"pebble", "pebble-challtestsrv", "certbot"} {
		testenv.NeedCommand(t, bin, ".ci/engine.sh up installs it")
	}
	work := t.TempDir()
	dnsPort, dnsMgmtPort := freePort(t), freePort(t)
	start(t, work, "challtestsrv", "pebble-challtestsrv",
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", "127.0.0.1:"+dnsPort, "-management", "127.0.0.1:"+dnsMgmtPort,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")

	listen, mgmt := freePort(t), freePort(t)
	config := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + listen,
		"managementListenAddress":        "127.0.0.1:" + mgmt,
		"certificate":                    filepath.Join(testDir, "certs/localhost/cert.pem"),
		"privateKey":                     filepath.Join(testDir, "certs/localhost/key.pem"),
		"httpPort":                       mustAtoi(t, httpPort),
		"tlsPort":                        mustAtoi(t, freePort(t)),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"domainBlocklist":                []string{blockedDomain},
	}}
	data, _ := json.Marshal(config)
	cfg := filepath.Join(work, "pebble.json")
	os.WriteFile(cfg, data, 0o644)
	start(t, work, "pebble", "env", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0",
		"pebble", "-config", cfg, "-dnsserver", "127.0.0.1:"+dnsPort)

	a := &acme{
		dir:      "https://127.0.0.1:" + listen + "/dir",
		mgmt:     "https://127.0.0.1:" + mgmt,
		dnsMgmt:  "http://127.0.0.1:" + dnsMgmtPort,
		caBundle: filepath.Join(testDir, "certs/pebble.minica.pem"),
	}
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(a.caBundle)
	pool.AppendCertsFromPEM(ca)
	a.httpClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	eventually(t, 30*time.Second, "Pebble answering", func() error {
		resp, err := a.httpClient.Get(a.dir)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	return a
}

// start runs a server in its own process group and stops it by PID when
// the test ends.
func start(t *testing.T, dir, name string, argv ...string) {
	t.Helper()
	log, _ := os.Create(filepath.Join(dir, name+".log"))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		log.Close()
		if t.Failed() {
			data, _ := os.ReadFile(log.Name())
			t.Logf("%s log (tail):\n%s", name, tail(string(data), 30))
		}
	})
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// root is the root certificate Pebble signs with (new at each start).
func (a *acme) root(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := a.httpClient.Get(a.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(buf.Bytes()) {
		t.Fatalf("no root from Pebble: %q", buf.String())
	}
	return pool
}

// resolve makes challtestsrv answer host with ip.
func (a *acme) resolve(t *testing.T, host, ip string) {
	body, _ := json.Marshal(map[string]any{"host": host, "addresses": []string{ip}})
	resp, err := http.Post(a.dnsMgmt+"/add-a", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("challtestsrv add-a %s: %v %v", host, err, resp)
	}
	resp.Body.Close()
}

// env is what certbot needs to talk to this Pebble.
func (a *acme) env() []string {
	return []string{"ACME_SERVER=" + a.dir, "REQUESTS_CA_BUNDLE=" + a.caBundle}
}

// served dials nginx's HTTPS port as serverName and returns the leaf it
// serves, verified against roots (no InsecureSkipVerify).
func served(t *testing.T, httpsPort, serverName string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", "127.0.0.1:"+httpsPort, &tls.Config{ServerName: serverName, RootCAs: roots})
	if err != nil {
		// Say what nginx serves instead.
		if c, derr := tls.Dial("tcp", "127.0.0.1:"+httpsPort, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}); derr == nil {
			chain := c.ConnectionState().PeerCertificates
			c.Close()
			for _, cert := range chain {
				t.Logf("served: subject %q issuer %q SAN %v serial %s", cert.Subject, cert.Issuer, cert.DNSNames, cert.SerialNumber)
			}
		}
		t.Fatalf("TLS to nginx as %s: %v", serverName, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}
