package main

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

// The load of the deploy measurement, as the issue and the end-to-end
// deploy test have it: one request every loadEvery, alternating the page and
// the API, each with a client timeout of loadTimeout, for loadMax at most.
const (
	loadEvery   = 25 * time.Millisecond
	loadTimeout = 10 * time.Second
	loadMax     = 10 * time.Minute
)

// loadCount is what the load saw during one deploy: requests sent, and the
// failures by kind. A wrong body is an answer below 500 that carries no
// known build marker ("build NAME;").
type loadCount struct {
	sent, connErrors, serverErrors, wrongBodies int
}

func (c loadCount) failed() int { return c.connErrors + c.serverErrors + c.wrongBodies }

// load sends a steady, bounded stream of HTTPS requests through nginx, to
// 127.0.0.1 only, and counts every failure. Its own small copy of the
// end-to-end test's load (test/e2e/deploy_test.go), which lives in a test
// package and reports to a testing.T: here the counts are figures.
type load struct {
	client  *http.Client
	urls    []string
	markers []string // the builds a right body may name

	mu       sync.Mutex
	count    loadCount
	examples []string // the first failure of each kind, for the report
	kinds    map[string]bool
	last     string // the build that answered last
	stop     chan struct{}
	done     chan struct{}
}

// httpsClient trusts the CA in caFile, asks for host (TLS name and Host
// header) and dials 127.0.0.1:port whatever the URL says. Every request
// opens a connection of its own, as a new visitor would.
func httpsClient(caFile, host, port string) (*http.Client, error) {
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
		Timeout: loadTimeout,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: host},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
			},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// startLoad starts the stream: base is "https://host", markers the builds
// whose answers are right.
func startLoad(c *http.Client, base string, markers []string) *load {
	l := &load{client: c, urls: []string{base + "/", base + "/api/status"}, markers: markers,
		stop: make(chan struct{}), done: make(chan struct{})}
	deadline := time.Now().Add(loadMax)
	go func() {
		defer close(l.done)
		tick := time.NewTicker(loadEvery)
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

func (l *load) one(url string) {
	resp, err := l.client.Get(url)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count.sent++
	fail := func(kind, format string, args ...any) {
		if !l.kinds[kind] {
			l.kinds[kind] = true
			l.examples = append(l.examples, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
		}
	}
	switch {
	case resp == nil:
		l.count.connErrors++
		fail("connection", "%s: %v", url, err)
	case resp.StatusCode >= 500:
		l.count.serverErrors++
		fail("5xx", "%s: %s %.300q", url, resp.Status, body)
	case err != nil:
		l.count.connErrors++ // the connection broke in the body
		fail("connection", "%s: %s, reading the body: %v", url, resp.Status, err)
	default:
		for _, m := range l.markers {
			if strings.Contains(string(body), "build "+m+";") {
				l.last = m
				return
			}
		}
		l.count.wrongBodies++
		fail("body", "%s: %s, a body of no known build: %.80q", url, resp.Status, body)
	}
}

// phase resets the counts, runs fn under the load, keeps the load one more
// second (answers right after the deploy returned count too), and returns
// what the load saw, the first failure of each kind and the build that
// answered last.
func (l *load) phase(fn func()) (loadCount, []string, string) {
	l.mu.Lock()
	l.count, l.examples, l.kinds = loadCount{}, nil, map[string]bool{}
	l.mu.Unlock()
	fn()
	time.Sleep(time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count, l.examples, l.last
}

func (l *load) close() {
	close(l.stop)
	<-l.done
}
