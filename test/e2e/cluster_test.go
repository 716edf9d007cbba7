package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/certs"
	"github.com/kettleofketchup/dtx_website/internal/testcluster"
	"github.com/kettleofketchup/dtx_website/internal/testenv"
)

// clusterServices are the services of the release stack TestCluster deploys.
var clusterServices = []string{"backend", "frontend", "nginx", "redis"}

// TestCluster runs the swarm targets on three machines: three Docker
// engines of internal/testcluster (network, mount, PID and UTS namespaces
// of their own, a bridge between them, a plain-HTTP registry on it), made
// one swarm by ./dtx swarm:setup over ssh:// to each node, every ./dtx
// call through DOCKER_HOST=ssh:// to the manager (an sshd in each node's
// namespace).
// Under a steady stream of HTTPS requests to every node's address, counted
// per node: deploy v1, a rolling update to v2 (none may fail at any node),
// drain and activate a worker (none may fail at the others), a certificate
// from Pebble whose challenge address is a worker, and a worker killed
// outright (how many failed before Swarm noticed, none after, the site
// whole on the other two). Every figure is printed.
//
// It makes no swarm on the shared engine: only the base image is read
// from it.
func TestCluster(t *testing.T) {
	requireEngine(t)
	if err := testcluster.Check(); err != nil {
		testenv.Missing(t, err.Error())
	}
	began := time.Now()
	defer func() { t.Logf("TestCluster took %s", time.Since(began).Round(time.Second)) }()
	s := newSite(t)
	t.Cleanup(s.cleanup)
	ctx := t.Context()
	c, err := testcluster.Up(ctx, testcluster.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Down(); err != nil {
			t.Errorf("the cluster's teardown: %v", err)
		}
	})
	manager, drained, lost := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	// The test's own docker calls inspect the manager; the tool's go
	// through ssh (s.vars below).
	t.Setenv("DOCKER_HOST", manager.Host)

	// An sshd in each node's namespace, on its address, its sessions
	// given the node's engine: the nodes as an operator lists them.
	var hosts []sshHost
	for _, n := range c.Nodes {
		hosts = append(hosts, startSSHDOn(t, n.Addr, n.Netns(), n.Host))
	}
	host := hosts[0]
	s.vars["DOCKER_HOST"], s.vars["PATH"] = host.url, sshPath(t, hosts)
	s.vars["REGISTRY"] = c.Registry + "/dtxcluster"
	s.vars["HTTP_PORT"], s.vars["HTTPS_PORT"] = "80", "443"
	delete(s.vars, "PUBLISH_ADDRESS") // a host-mode port has no address: every node's
	t.Logf("nodes: %s (manager, %s), %s, %s; registry %s; DOCKER_HOST=%s", manager.Name, manager.Addr, drained.Addr, lost.Addr, c.Registry, host.url)

	setupEnv := []string{"SWARM_MANAGERS=" + host.url, "SWARM_WORKERS=" + hosts[1].url + "," + hosts[2].url, "SWARM_ADVERTISE=" + manager.Addr}
	t.Run("swarm:setup makes the swarm; a second run changes nothing", func(t *testing.T) {
		start := time.Now()
		out := mustMageT(t, s, setupEnv, "swarm:setup")
		t.Logf("swarm:setup took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
		start = time.Now()
		again := mustMageT(t, s, setupEnv, "swarm:setup")
		t.Logf("second swarm:setup took %s", time.Since(start).Round(time.Millisecond))
		if !strings.Contains(again, "nothing changed") {
			t.Errorf("the second swarm:setup did not say that nothing changed:\n%s", again)
		}
		nodes := mustMageT(t, s, nil, "swarm:nodes")
		t.Logf("swarm:nodes:\n%s", nodes)
		for _, n := range c.Nodes {
			if !strings.Contains(nodes, n.Name) || !strings.Contains(nodes, n.Addr) {
				t.Errorf("swarm:nodes does not list %s at %s:\n%s", n.Name, n.Addr, nodes)
			}
		}
		if got := docker(t, "node", "inspect", "--format", `{{index .Spec.Labels "dtx.data"}}`, manager.Name); got != "true" {
			t.Errorf("the manager's dtx.data label is %q, want true (the first manager keeps the data)", got)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	// On the manager (DOCKER_HOST), the data node where redis runs.
	useRedisStandIn(t, s)
	base := s.vars["VERSION"]
	v1, v2 := base+"-v1", base+"-v2"
	release := func(t *testing.T, version, page string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(s.root, "frontend/public/version.txt"), []byte(page+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		mustMageT(t, s, []string{"VERSION=" + version}, "docker:build", "-only=frontend,backend,nginx")
		mustMageT(t, s, []string{"VERSION=" + version}, "docker:push", "-only=frontend,backend,nginx")
		t.Logf("docker:build and docker:push of %s through ssh:// took %s", version, time.Since(start).Round(time.Millisecond))
	}
	release(t, v1, "v1")
	release(t, v2, "v2")
	t.Run("every node pulls from the registry", func(t *testing.T) {
		out := mustMageT(t, s, append(setupEnv, "VERSION="+v1), "swarm:setup")
		if strings.Contains(out, "is not there yet") || !strings.Contains(out, "nothing changed") {
			t.Errorf("swarm:setup after the push:\n%s", out)
		}
	})

	start := time.Now()
	out := s.mustMage([]string{"VERSION=" + v1}, "swarm:deploy")
	t.Logf("swarm:deploy v1 across three nodes took %s", time.Since(start).Round(time.Millisecond))
	if strings.Contains(out, "no digest from the registry") {
		t.Errorf("the tool did not read the digests from the plain-HTTP registry:\n%s", out)
	}
	clusterConverged(t, s.prefix, v1, 3)
	t.Logf("tasks at v1:\n%s", taskPlaces(t, s.prefix))
	if nodes := taskNodes(t, s.prefix+"_frontend"); len(nodes) < 2 {
		t.Errorf("frontend's tasks all run on %v: want them spread", nodes)
	}
	if nodes := taskNodes(t, s.prefix+"_nginx"); len(nodes) != 3 {
		t.Errorf("nginx runs on %v, want every node", nodes)
	}
	// redis, and backend (its sqlite file is data, x-dtx.data), run where
	// their volumes are: the data node.
	for _, svc := range []string{"redis", "backend"} {
		if nodes := taskNodes(t, s.prefix+"_"+svc); !slices.Equal(nodes, []string{manager.Name}) {
			t.Errorf("%s runs on %v, want the data node %s", svc, nodes, manager.Name)
		}
	}

	selfSigned := x509.NewCertPool()
	pem, err := os.ReadFile(filepath.Join(s.root, "nginx/data/ssl/fullchain.pem"))
	if err != nil || !selfSigned.AppendCertsFromPEM(pem) {
		t.Fatalf("the self-signed certificate: %v", err)
	}
	for _, n := range c.Nodes {
		eventually(t, 60*time.Second, n.Name+" serves v1", func() error { return expect(nodeClient(n.Addr, selfSigned), "v1") })
	}
	loads := startNodeLoads(t, c.Nodes, selfSigned)

	t.Run("rolling update to v2: no failed request at any node", func(t *testing.T) {
		before := loads.snapshot()
		start := time.Now()
		out := mustMageT(t, s, []string{"VERSION=" + v2}, "swarm:deploy")
		took := time.Since(start)
		clusterConverged(t, s.prefix, v2, 3)
		t.Logf("v1 -> v2 converged in %s", took.Round(time.Millisecond))
		if !strings.Contains(out, s.prefix+"_nginx: running") {
			t.Errorf("nginx's image did not change, yet swarm:deploy did not leave it running:\n%s", out)
		}
		for _, n := range c.Nodes {
			if err := expect(nodeClient(n.Addr, selfSigned), "v2"); err != nil {
				t.Errorf("%s after the update: %v", n.Name, err)
			}
		}
		loads.check(t, before, c.Nodes)
	})

	t.Run("drain a worker and activate it: no failed request at the others", func(t *testing.T) {
		others := []*testcluster.Node{manager, lost}
		before := loads.snapshot()
		start := time.Now()
		out := mustMageT(t, s, nil, "swarm:drain", drained.Name)
		t.Logf("swarm:drain %s took %s:\n%s", drained.Name, time.Since(start).Round(time.Millisecond), out)
		for _, svc := range []string{"frontend", "backend"} {
			if slices.Contains(taskNodes(t, s.prefix+"_"+svc), drained.Name) {
				t.Errorf("%s still runs on the drained %s", svc, drained.Name)
			}
		}
		start = time.Now()
		out = mustMageT(t, s, nil, "swarm:activate", drained.Name)
		t.Logf("swarm:activate %s took %s:\n%s", drained.Name, time.Since(start).Round(time.Millisecond), out)
		clusterConverged(t, s.prefix, v2, 3)
		eventually(t, 60*time.Second, drained.Name+" serves again", func() error { return expect(nodeClient(drained.Addr, selfSigned), "v2") })
		loads.check(t, before, others)
		loads.report(t, before, []*testcluster.Node{drained})
	})
	loads.stop() // the certificate changes next: these loads trust the self-signed one

	var pebbleRoots *x509.CertPool
	t.Run("prod:certbot STACK=swarm, the challenge answered by a worker", func(t *testing.T) {
		pebbleDir(t)
		a := startACME(t, "80")
		// Pebble asks the worker, not the manager: the challenge must be
		// on every node (the global job), not where the tool runs.
		a.resolve(t, "dtx.test", drained.Addr)
		a.resolve(t, "www.dtx.test", drained.Addr)
		start := time.Now()
		out := mustMageT(t, s, append(a.env(), "STACK=swarm", "VERSION="+v2), "prod:certbot")
		t.Logf("issue and rotation took %s", time.Since(start).Round(time.Millisecond))
		if !strings.Contains(out, "no certificate yet for dtx.test") {
			t.Errorf("output:\n%s", out)
		}
		cert, err := certs.Read(filepath.Join(s.root, "nginx/data/certbot/conf/live/dtx.test/fullchain.pem"))
		if err != nil {
			t.Fatal(err)
		}
		pebbleRoots = a.root(t)
		for _, n := range c.Nodes {
			eventually(t, 60*time.Second, n.Name+" serves the new certificate", func() error {
				got, err := servedAt(n.Addr+":443", "dtx.test", pebbleRoots)
				if err != nil {
					return err
				}
				if got.SerialNumber.Cmp(cert.SerialNumber) != 0 {
					return fmt.Errorf("serial %s, want %s", got.SerialNumber, cert.SerialNumber)
				}
				return nil
			})
		}
		t.Logf("every node serves the certificate issued through %s (serial %s)", drained.Addr, cert.SerialNumber)
	})
	if pebbleRoots == nil {
		t.FailNow()
	}
	clusterConverged(t, s.prefix, v2, 3)

	t.Run("a worker killed under load", func(t *testing.T) {
		survivors := []*testcluster.Node{manager, drained}
		loads := startNodeLoads(t, c.Nodes, pebbleRoots)
		defer loads.stop()
		time.Sleep(3 * time.Second) // a few rounds before
		t.Logf("tasks before:\n%s", taskPlaces(t, s.prefix))
		before := loads.snapshot()
		killed := time.Now()
		if err := c.Kill(lost); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s killed (its engine, PID 1 of its namespace, SIGKILL; its link down)", lost.Name)
		eventually(t, 2*time.Minute, "Swarm marks "+lost.Name+" down", func() error {
			if st := docker(t, "node", "inspect", "--format", "{{.Status.State}}", lost.Name); st != "down" {
				return fmt.Errorf("state %s", st)
			}
			return nil
		})
		noticed := time.Since(killed)
		atNotice := loads.snapshot()
		// The tasks of a node that is down stay "running" in Swarm's
		// books (it cannot ask the node): what counts is the others'.
		want := map[string]int{"frontend": 2, "backend": 2, "redis": 1, "nginx": len(survivors)}
		eventually(t, 2*time.Minute, "every service of "+s.prefix+" runs on the survivors", func() error {
			for svc, n := range want {
				if got := runningExcept(t, s.prefix+"_"+svc, lost.Name); got != n {
					return fmt.Errorf("%s: %d tasks running on the survivors, want %d", svc, got, n)
				}
			}
			return nil
		})
		rescheduled := time.Since(killed)
		t.Logf("Swarm marked %s down after %s; every service ran on the other two after %s", lost.Name, noticed.Round(time.Millisecond), rescheduled.Round(time.Millisecond))
		t.Logf("tasks after:\n%s", taskPlaces(t, s.prefix))
		afterReschedule := loads.snapshot()
		time.Sleep(15 * time.Second) // the survivors' load after Swarm noticed
		end := loads.snapshot()
		t.Logf("requests from the kill until Swarm marked the node down:")
		loads.between(t, before, atNotice, c.Nodes)
		t.Logf("requests from then until every service ran elsewhere:")
		loads.between(t, atNotice, afterReschedule, survivors)
		t.Logf("requests in the 15 s after that:")
		loads.between(t, afterReschedule, end, survivors)
		for _, n := range survivors {
			if failed := end[n.Name].failed - atNotice[n.Name].failed; failed != 0 {
				t.Errorf("%d requests failed at %s after Swarm marked %s down", failed, n.Name, lost.Name)
			}
			if sent := end[n.Name].total - atNotice[n.Name].total; sent < 20 {
				t.Errorf("only %d requests were made at %s: the load did not run", sent, n.Name)
			}
		}
		for _, n := range survivors {
			if err := expect(nodeClient(n.Addr, pebbleRoots), "v2"); err != nil {
				t.Errorf("%s after the loss of %s: %v", n.Name, lost.Name, err)
			}
		}
	})
}

// sshPath is a PATH whose ssh reaches every one of hosts (each with its
// own key and known host): an ssh_config that includes each host's.
func sshPath(t *testing.T, hosts []sshHost) string {
	t.Helper()
	dir := t.TempDir()
	var includes []string
	for _, h := range hosts {
		includes = append(includes, "Include "+h.config)
	}
	config := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(config, []byte(strings.Join(includes, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\nexec /usr/bin/ssh -F " + config + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

// clusterConverged checks that every service of the stack is at version,
// no update under way, and (waiting up to 2 minutes) runs all its tasks,
// nginx on nodes nodes.
func clusterConverged(t *testing.T, stack, version string, nodes int) {
	t.Helper()
	for _, svc := range clusterServices {
		got := docker(t, "service", "inspect", "--format", `{{index .Spec.Labels "com.dtx.version"}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{else}}none{{end}}`, stack+"_"+svc)
		v, state, _ := strings.Cut(got, " ")
		if v != version || !slices.Contains([]string{"none", "completed", "rollback_completed"}, state) {
			t.Errorf("%s_%s: version %s, update %s; want %s, converged", stack, svc, v, state, version)
		}
	}
	eventually(t, 2*time.Minute, "every task of "+stack+" runs", func() error {
		out := docker(t, "service", "ls", "--filter", "label=com.docker.stack.namespace="+stack, "--format", "{{.Name}} {{.Replicas}}")
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				return fmt.Errorf("%s", out)
			}
			running, want, _ := strings.Cut(f[1], "/")
			if running != want || strings.HasSuffix(f[0], "_nginx") && want != fmt.Sprint(nodes) {
				return fmt.Errorf("%s", out)
			}
		}
		return nil
	})
}

// taskNodes are the nodes a service's running tasks are on, sorted.
func taskNodes(t *testing.T, service string) []string {
	t.Helper()
	out := docker(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}", service)
	var nodes []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "Running" && !slices.Contains(nodes, f[0]) {
			nodes = append(nodes, f[0])
		}
	}
	slices.Sort(nodes)
	return nodes
}

// runningExcept counts a service's tasks that should run and do, on
// nodes other than lost.
func runningExcept(t *testing.T, service, lost string) int {
	t.Helper()
	out := docker(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}", service)
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] != lost && f[1] == "Running" {
			n++
		}
	}
	return n
}

// taskPlaces says where each service's tasks run, a line per service.
func taskPlaces(t *testing.T, stack string) string {
	var lines []string
	for _, svc := range clusterServices {
		lines = append(lines, fmt.Sprintf("    %s: %s", svc, strings.Join(taskNodes(t, stack+"_"+svc), " ")))
	}
	return strings.Join(lines, "\n")
}

// nodeClient is client for one node: every connection to addr's ports
// 80 and 443 (the published ones), the certificate checked against roots.
func nodeClient(addr string, roots *x509.CertPool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(hostport)
				return dialer.DialContext(ctx, network, net.JoinHostPort(addr, port))
			},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// servedAt is the leaf certificate the server at hostport serves as
// serverName, verified against roots.
func servedAt(hostport, serverName string, roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", hostport, &tls.Config{ServerName: serverName, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// nodeLoads is one load (startLoad) per node, each at its node's address.
type nodeLoads map[string]*load

func startNodeLoads(t *testing.T, nodes []*testcluster.Node, roots *x509.CertPool) nodeLoads {
	l := nodeLoads{}
	for _, n := range nodes {
		l[n.Name] = startLoad(nodeClient(n.Addr, roots), "https://dtx.test/")
	}
	t.Cleanup(l.stop)
	return l
}

func (l nodeLoads) stop() {
	for _, one := range l {
		one.stop()
	}
}

// nodeCount is what one node's load had seen at a moment.
type nodeCount struct {
	loadCount
	reasons map[string]int
}

func (l nodeLoads) snapshot() map[string]nodeCount {
	m := map[string]nodeCount{}
	for name, one := range l {
		_, _, reasons := one.totals()
		m[name] = nodeCount{one.snapshot(), reasons}
	}
	return m
}

// report prints the requests sent and failed at each of nodes since
// before, and why they failed.
func (l nodeLoads) report(t *testing.T, before map[string]nodeCount, nodes []*testcluster.Node) {
	t.Helper()
	l.between(t, before, l.snapshot(), nodes)
}

// between prints the requests sent and failed at each of nodes from one
// snapshot to another, and why they failed.
func (l nodeLoads) between(t *testing.T, from, to map[string]nodeCount, nodes []*testcluster.Node) {
	t.Helper()
	for _, n := range nodes {
		a, b := from[n.Name], to[n.Name]
		reasons := map[string]int{}
		for k, v := range b.reasons {
			if d := v - a.reasons[k]; d > 0 {
				reasons[k] = d
			}
		}
		t.Logf("    %s (%s): %d requests, %d failed %v", n.Name, n.Addr, b.total-a.total, b.failed-a.failed, reasons)
	}
}

// check prints the requests at each of nodes since before and fails t if
// one failed.
func (l nodeLoads) check(t *testing.T, before map[string]nodeCount, nodes []*testcluster.Node) {
	t.Helper()
	l.report(t, before, nodes)
	for _, n := range nodes {
		now := l[n.Name].snapshot()
		if sent := now.total - before[n.Name].total; sent < 20 {
			t.Errorf("only %d requests were made at %s: the load did not run", sent, n.Name)
		}
		if failed := now.failed - before[n.Name].failed; failed != 0 {
			t.Errorf("%d requests failed at %s (%s)", failed, n.Name, n.Addr)
		}
	}
}
