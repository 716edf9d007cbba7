package loadtest

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The deploy figures rest on the load telling a right answer from each kind
// of failure, over TLS to 127.0.0.1 whatever host it asks for.
func TestLoadCounts(t *testing.T) {
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
		closed  bool // the server is gone: nothing listens
		want    func(Count) bool
		last    string
	}{
		{"a marker of a known build", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<p>build two;</p>")) },
			false, func(c Count) bool { return c.Failed() == 0 }, "two"},
		{"a 502", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad gateway", http.StatusBadGateway) },
			false, func(c Count) bool { return c.ServerErrors == c.Sent && c.Failed() == c.Sent }, ""},
		{"a body of no known build", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("build three;")) },
			false, func(c Count) bool { return c.WrongBodies == c.Sent && c.Failed() == c.Sent }, ""},
		{"a redirect is no right answer", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/x", http.StatusFound) },
			false, func(c Count) bool { return c.WrongBodies == c.Sent }, ""},
		{"nothing listens", nil,
			true, func(c Count) bool { return c.ConnErrors == c.Sent && c.Failed() == c.Sent }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(c.handler)
			ca := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(srv.URL)
			if c.closed {
				srv.Close()
			} else {
				defer srv.Close()
			}
			client, err := Client(ca, "example.com", u.Port()) // httptest's certificate names example.com
			if err != nil {
				t.Fatal(err)
			}
			l := Start(client, "https://example.com", []string{"one", "two"})
			defer l.Close()
			got, examples, last := l.Phase(func() { time.Sleep(200 * time.Millisecond) })
			if got.Sent < 5 || !c.want(got) || last != c.last {
				t.Fatalf("counts %+v, last build %q (want %q), examples %q", got, last, c.last, examples)
			}
			if got.Failed() > 0 && len(examples) == 0 {
				t.Errorf("%d failed, no example", got.Failed())
			}
		})
	}
}
