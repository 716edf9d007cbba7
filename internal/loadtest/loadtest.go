// Package loadtest is the steady, bounded stream of HTTPS requests that the
// deploy test and the benchmark send through nginx while a deploy runs, to
// 127.0.0.1, or to a node of the benchmark's test cluster
// (internal/testcluster) only: it counts every failed request, by kind, and
// tells which build answered.
package loadtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// The load: one request every Every, alternating the page and the API, each
// with a client timeout of Timeout, for Max at most.
const (
	Every   = 25 * time.Millisecond
	Timeout = 10 * time.Second
	Max     = 10 * time.Minute
)

// Count is what the load saw during one phase: requests sent, and the
// failures by kind. A wrong body is an answer below 500 that carries no
// known build marker ("build NAME;").
type Count struct {
	Sent, ConnErrors, ServerErrors, WrongBodies int
}

// Failed is every failed request, of any kind.
func (c Count) Failed() int { return c.ConnErrors + c.ServerErrors + c.WrongBodies }

// Stream sends a steady, bounded stream of HTTPS requests through nginx, to
// 127.0.0.1 only, and counts every failure.
type Stream struct {
	client  *http.Client
	urls    []string
	markers []string // the builds a right body may name

	mu       sync.Mutex
	count    Count
	examples []string // the first failure of each kind, for the report
	kinds    map[string]bool
	last     string // the build that answered last
	stop     chan struct{}
	done     chan struct{}
}

// Client trusts the CA in caFile, asks for host (TLS name and Host
// header) and dials 127.0.0.1:port whatever the URL says. Every request
// opens a connection of its own, as a new visitor would.
func Client(caFile, host, port string) (*http.Client, error) {
	return ClientAt(caFile, host, "127.0.0.1", port)
}

// ClientAt is Client dialing addr:port: a node of a test cluster, whose
// address the test made.
func ClientAt(caFile, host, addr, port string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate in it", caFile)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: Timeout,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: host},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, net.JoinHostPort(addr, port))
			},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// Start starts the stream: base is "https://host", markers the builds whose
// answers are right (a body carrying "build NAME;").
func Start(c *http.Client, base string, markers []string) *Stream {
	l := &Stream{client: c, urls: []string{base + "/", base + "/api/status"}, markers: markers, kinds: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
	deadline := time.Now().Add(Max)
	go func() {
		defer close(l.done)
		tick := time.NewTicker(Every)
		defer tick.Stop()
		for i := 0; time.Now().Before(deadline); i++ {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			l.one(l.urls[i%len(l.urls)])
		}
	}()
	return l
}

func (l *Stream) one(url string) {
	resp, err := l.client.Get(url)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count.Sent++
	fail := func(kind, format string, args ...any) {
		if !l.kinds[kind] {
			l.kinds[kind] = true
			l.examples = append(l.examples, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
		}
	}
	switch {
	case resp == nil:
		l.count.ConnErrors++
		fail("connection", "%s: %v", url, err)
	case resp.StatusCode >= 500:
		l.count.ServerErrors++
		fail("5xx", "%s: %s %.300q", url, resp.Status, body)
	case err != nil:
		l.count.ConnErrors++ // the connection broke in the body
		fail("connection", "%s: %s, reading the body: %v", url, resp.Status, err)
	default:
		for _, m := range l.markers {
			if strings.Contains(string(body), "build "+m+";") {
				l.last = m
				return
			}
		}
		l.count.WrongBodies++
		fail("body", "%s: %s, a body of no known build: %.80q", url, resp.Status, body)
	}
}

// Phase resets the counts, runs fn under the load, keeps the load one more
// second (answers right after the deploy returned count too), and returns
// what the load saw, the first failure of each kind and the build that
// answered last.
func (l *Stream) Phase(fn func()) (Count, []string, string) {
	l.Take()
	fn()
	time.Sleep(time.Second)
	return l.Take()
}

// Take returns what the load saw since the last Take (or Phase), the
// first failure of each kind and the build that answered last, and
// starts counting anew: several streams' phases around one event (one
// stream per node of a cluster).
func (l *Stream) Take() (Count, []string, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, examples, last := l.count, l.examples, l.last
	l.count, l.examples, l.kinds = Count{}, nil, map[string]bool{}
	return c, examples, last
}

// Close stops the stream and waits for its last request.
func (l *Stream) Close() {
	close(l.stop)
	<-l.done
}
