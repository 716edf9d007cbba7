// Package testcluster makes the machines of a multi-node swarm on this one
// machine, for the end-to-end suite (test/e2e TestCluster) and the
// benchmark (bench -cluster): Docker engines, each in a network namespace,
// a mount, UTS and PID namespace of its own, joined by veth pairs to a
// bridge the package makes, on a private /24 of its own, with a registry
// on the bridge's address that every engine trusts in plain HTTP.
//
// Everything it makes is named after the process that made it (dtxc<pid>):
// namespaces, links, the iptables rules' comment, the cgroups and the
// temporary folder. Down removes it all, by PID for the processes; Sweep
// removes what a run that was killed before its Down left behind (its PID
// is gone). Nothing that does not carry such a name is touched.
//
// Like internal/testsite it does not import "testing": errors are returned
// and what it does is said through Logf.
package testcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Stem starts every name the package gives (followed by the PID).
const Stem = "dtxc"

// BaseImage is the offline base image the project's images are built from
// (.ci/engine.sh makes it on the shared engine): every node gets it.
const BaseImage = "dtx-base:bookworm"

// Node is one machine of the cluster: a Docker engine in namespaces of its
// own, reachable from this namespace at Addr (its published ports) and
// through Host (its unix socket, for the docker CLI).
type Node struct {
	Name     string // its network namespace, also its hostname: dtxc<pid>n<i>
	Addr     string // its address on the bridge
	Host     string // DOCKER_HOST of its engine: unix://…/docker.sock
	Link     string // the host end of its veth pair
	dir      string
	cmd      *exec.Cmd // the engine: PID 1 of the node's PID namespace
	done     chan struct{}
	waitErr  error
	killedAt time.Time
}

// Netns is the path of the node's network namespace (for nsenter --net=).
func (n *Node) Netns() string { return "/var/run/netns/" + n.Name }

// PID is the host PID of the node's engine (PID 1 of its PID namespace:
// killing it kills every process of the node).
func (n *Node) PID() int { return n.cmd.Process.Pid }

// Cluster is what Up made.
type Cluster struct {
	ID       string // dtxc<pid>
	Dir      string // the temporary folder: data roots, sockets, logs
	Bridge   string // the bridge's name
	Gateway  string // the bridge's address, where the registry listens
	Registry string // host:port of the registry (plain HTTP)
	Nodes    []*Node

	logf     func(format string, args ...any)
	mu       sync.Mutex
	procs    []*proc // the registry
	rules    [][]string
	chain    string
	netnses  []string
	links    []string
	cgroups  []string
	downOnce sync.Once
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// Options says how many nodes and where to report.
type Options struct {
	Nodes int                              // 3 when 0
	Logf  func(format string, args ...any) // what the package does, one line each
}

// Tools are the programs Up runs: the private engine's binaries
// (source /tmp/dtx-engine/env.sh puts them on PATH) and iproute2's.
var Tools = []string{"dockerd", "containerd", "runc", "docker", "registry", "ip", "iptables", "nsenter", "mount", "hostname"}

// Check says what this machine lacks for a cluster, nil when nothing: the
// tools, root, network namespaces, and the kernel's bridge, veth, vxlan
// and overlay support (each tried for real, on names of this process).
func Check() error {
	for _, t := range Tools {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("testcluster: %s is not on PATH (source /tmp/dtx-engine/env.sh after bash .ci/engine.sh up; apt-get install iproute2 iptables util-linux)", t)
		}
	}
	if os.Geteuid() != 0 {
		return errors.New("testcluster: a cluster needs root (network namespaces, links, iptables)")
	}
	if !hasFilesystem("overlay") {
		if out, err := exec.Command("modprobe", "overlay").CombinedOutput(); err != nil || !hasFilesystem("overlay") {
			return fmt.Errorf("testcluster: the kernel has no overlay filesystem (modprobe overlay: %v %s): Docker's overlay2 storage needs it", err, strings.TrimSpace(string(out)))
		}
	}
	id := fmt.Sprintf("%s%dk", Stem, os.Getpid())
	ns := id + "ns"
	steps := []struct {
		what, hint string
		argv       []string
	}{
		{"a network namespace", "ip netns add", []string{"ip", "netns", "add", ns}},
		{"a bridge", "ip link add type bridge (CONFIG_BRIDGE)", []string{"ip", "-n", ns, "link", "add", id + "b", "type", "bridge"}},
		{"a veth pair", "ip link add type veth (CONFIG_VETH)", []string{"ip", "-n", ns, "link", "add", id + "v", "type", "veth", "peer", "name", id + "p"}},
		{"a vxlan link", "ip link add type vxlan (CONFIG_VXLAN): Swarm's overlay networks need it", []string{"ip", "-n", ns, "link", "add", id + "x", "type", "vxlan", "id", "42", "dstport", "4789", "local", "127.0.0.1"}},
	}
	defer exec.Command("ip", "netns", "delete", ns).Run()
	for _, s := range steps {
		if out, err := exec.Command(s.argv[0], s.argv[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("testcluster: the kernel refuses %s (%s: %v: %s)", s.what, s.hint, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

func hasFilesystem(name string) bool {
	data, _ := os.ReadFile("/proc/filesystems")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

// Up makes a cluster of opts.Nodes engines and the registry, each engine
// with the base image. On an error it removes what it made.
func Up(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if err := Check(); err != nil {
		return nil, err
	}
	Sweep(opts.Logf)
	id := fmt.Sprintf("%s%d", Stem, os.Getpid())
	dir, err := os.MkdirTemp("", id+"-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{ID: id, Dir: dir, Bridge: id + "b", logf: opts.Logf}
	defer func() {
		if err != nil {
			c.Down()
			c = nil
		}
	}()
	subnet, err := freeSubnet()
	if err != nil {
		return c, err
	}
	c.Gateway = subnet + ".1"
	start := time.Now()
	if err := c.network(subnet, opts.Nodes); err != nil {
		return c, err
	}
	if err := c.startRegistry(); err != nil {
		return c, err
	}
	for _, n := range c.Nodes {
		if err := c.startEngine(n); err != nil {
			return c, err
		}
	}
	for _, n := range c.Nodes {
		if err := n.waitReady(ctx, 60*time.Second); err != nil {
			return c, err
		}
	}
	c.logf("testcluster: %d engines and the registry %s up on %s in %s", len(c.Nodes), c.Registry, c.Bridge, time.Since(start).Round(time.Millisecond))
	if err := c.loadBaseImage(ctx); err != nil {
		return c, err
	}
	c.logf("testcluster: %s on every node after %s", BaseImage, time.Since(start).Round(time.Millisecond))
	return c, nil
}

// freeSubnet is a 10.213.x prefix (a /24) that no route or address of
// this namespace uses, x from the PID so that parallel runs differ.
func freeSubnet() (string, error) {
	routes, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return "", fmt.Errorf("ip route: %v", err)
	}
	addrs, _ := exec.Command("ip", "-4", "-o", "addr").Output()
	used := string(routes) + string(addrs)
	for i := 0; i < 200; i++ {
		x := (os.Getpid()+i)%200 + 20
		prefix := fmt.Sprintf("10.213.%d", x)
		if !strings.Contains(used, prefix+".") {
			return prefix, nil
		}
	}
	return "", errors.New("testcluster: every 10.213.x.0/24 is in use here (ip route): remove a leftover or free one")
}

// run runs a setup command, failing with its output.
func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// network makes the bridge, one namespace and veth pair per node, and the
// iptables rules that let bridged traffic through this machine's FORWARD
// policy (the private engine's is DROP, and bridged frames meet iptables
// here: bridge-nf-call-iptables).
func (c *Cluster) network(subnet string, nodes int) error {
	c.links = append(c.links, c.Bridge)
	if err := run("ip", "link", "add", c.Bridge, "type", "bridge"); err != nil {
		return err
	}
	if err := run("ip", "addr", "add", c.Gateway+"/24", "dev", c.Bridge); err != nil {
		return err
	}
	if err := run("ip", "link", "set", c.Bridge, "up"); err != nil {
		return err
	}
	c.chain = "FORWARD"
	if exec.Command("iptables", "-S", "DOCKER-USER").Run() == nil {
		c.chain = "DOCKER-USER" // the engine keeps it first in FORWARD
	}
	for _, match := range [][]string{{"-i", c.Bridge, "-o", c.Bridge}, {"-i", c.Bridge}, {"-o", c.Bridge}} {
		rule := append(append([]string{}, match...), "-m", "comment", "--comment", c.ID, "-j", "ACCEPT")
		if err := run(append([]string{"iptables", "-I", c.chain}, rule...)...); err != nil {
			return err
		}
		c.rules = append(c.rules, rule)
	}
	for i := 1; i <= nodes; i++ {
		n := &Node{Name: fmt.Sprintf("%sn%d", c.ID, i), Addr: fmt.Sprintf("%s.%d", subnet, 10+i), Link: fmt.Sprintf("%sv%d", c.ID, i)}
		n.dir = filepath.Join(c.Dir, fmt.Sprintf("n%d", i))
		n.Host = "unix://" + filepath.Join(n.dir, "docker.sock")
		c.Nodes = append(c.Nodes, n)
		peer := fmt.Sprintf("%sp%d", c.ID, i)
		c.netnses = append(c.netnses, n.Name)
		c.links = append(c.links, n.Link)
		for _, argv := range [][]string{
			{"ip", "netns", "add", n.Name},
			{"ip", "link", "add", n.Link, "type", "veth", "peer", "name", peer},
			{"ip", "link", "set", n.Link, "master", c.Bridge, "up"},
			{"ip", "link", "set", peer, "netns", n.Name},
			{"ip", "-n", n.Name, "link", "set", peer, "name", "eth0"},
			{"ip", "-n", n.Name, "addr", "add", n.Addr + "/24", "dev", "eth0"},
			{"ip", "-n", n.Name, "link", "set", "eth0", "up"},
			{"ip", "-n", n.Name, "link", "set", "lo", "up"},
		} {
			if err := run(argv...); err != nil {
				return err
			}
		}
	}
	return nil
}

// startRegistry starts the registry on the bridge's address, its storage
// in the cluster's folder.
func (c *Cluster) startRegistry() error {
	port, err := freePortOn(c.Gateway)
	if err != nil {
		return err
	}
	c.Registry = net.JoinHostPort(c.Gateway, strconv.Itoa(port))
	cfg := filepath.Join(c.Dir, "registry.yml")
	text := fmt.Sprintf("version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\nhttp: {addr: %q}\n",
		filepath.Join(c.Dir, "registry"), c.Registry)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return err
	}
	p, err := c.start("registry", "", []string{"OTEL_TRACES_EXPORTER=none"}, "registry", "serve", cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", c.Registry, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("testcluster: the registry exited: %s", lastLines(p.log.Name(), 5))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testcluster: the registry does not answer on %s: %v", c.Registry, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePortOn is a port free on addr now.
func freePortOn(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs argv (in the network namespace netns, "": this one) as a
// server of the cluster's: its output in Dir/name.log, stopped by its PID
// at Down.
func (c *Cluster) start(name, netns string, env []string, argv ...string) (*proc, error) {
	log, err := os.Create(filepath.Join(c.Dir, name+".log"))
	if err != nil {
		return nil, err
	}
	if netns != "" {
		argv = append([]string{"nsenter", "--net=" + netns, "--"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("testcluster: starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: log}
	go func() { cmd.Wait(); close(p.done) }()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// nodeScript runs as PID 1 of the node's new PID, mount and UTS
// namespaces, already in its network namespace (nsenter): it keeps its
// mounts from the host (rprivate), mounts a /proc of the new PID
// namespace (containerd and runc read /proc/self), names the host and
// becomes the engine. Every mount the engine makes (overlay layers,
// container namespaces) lives and dies with the node's mount namespace.
const nodeScript = `mount --make-rprivate / && mount -t proc proc /proc && hostname "$1" && shift && exec "$@"`

// startEngine starts a node's dockerd as PID 1 of PID, mount and UTS
// namespaces of its own, in its network namespace: SIGKILL to that PID is
// the node's power cut (the kernel kills every process of the namespace).
func (c *Cluster) startEngine(n *Node) error {
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(n.dir, "dockerd.log"))
	if err != nil {
		return err
	}
	c.cgroups = append(c.cgroups, n.Name)
	args := []string{"nsenter", "--net=" + n.Netns(), "--", "sh", "-c", nodeScript, "sh", n.Name,
		"dockerd", "--data-root", filepath.Join(n.dir, "data"), "--exec-root", filepath.Join(n.dir, "exec"),
		"-H", n.Host, "--pidfile", filepath.Join(n.dir, "dockerd.pid"), "--storage-driver", "overlay2",
		"--insecure-registry", c.Registry, "--cgroup-parent", "/" + n.Name, "--log-level", "warn"}
	n.cmd = exec.Command(args[0], args[1:]...)
	n.cmd.Stdout, n.cmd.Stderr = log, log
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS}
	if err := n.cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("testcluster: starting the engine of %s: %v", n.Name, err)
	}
	n.done = make(chan struct{})
	go func() { n.waitErr = n.cmd.Wait(); log.Close(); close(n.done) }()
	return nil
}

// waitReady waits until the node's engine answers docker version.
func (n *Node) waitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		cmd := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+n.Host)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		select {
		case <-n.done:
			return fmt.Errorf("testcluster: the engine of %s exited (%v): %s", n.Name, n.waitErr, lastLines(filepath.Join(n.dir, "dockerd.log"), 5))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("testcluster: the engine of %s does not answer after %s: %s", n.Name, d, strings.TrimSpace(string(out)))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// loadBaseImage saves the base image from the engine of the process's
// DOCKER_HOST (the shared one) once and loads it into every node.
func (c *Cluster) loadBaseImage(ctx context.Context) error {
	tar := filepath.Join(c.Dir, "base.tar")
	if out, err := exec.CommandContext(ctx, "docker", "save", "-o", tar, BaseImage).CombinedOutput(); err != nil {
		return fmt.Errorf("testcluster: docker save %s (from DOCKER_HOST=%s): %v: %s", BaseImage, os.Getenv("DOCKER_HOST"), err, strings.TrimSpace(string(out)))
	}
	defer os.Remove(tar)
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := n.Docker(ctx, "load", "-q", "-i", tar); err != nil {
				errs[i] = fmt.Errorf("testcluster: docker load on %s: %v: %s", n.Name, err, out)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Docker runs the docker CLI against the node's engine.
func (n *Node) Docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+n.Host)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Kill cuts the node off as a power loss would: SIGKILL to its engine,
// PID 1 of its PID namespace (so containerd, the shims and every
// container die with it), and its link down. It returns when the engine
// is gone.
func (c *Cluster) Kill(n *Node) error {
	n.killedAt = time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	linkErr := run("ip", "link", "set", n.Link, "down")
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("testcluster: the engine of %s (PID %d) still runs 30 s after SIGKILL", n.Name, n.PID())
	}
	return linkErr
}

// Down stops and removes everything Up made; it says through Logf what it
// could not remove, and returns it joined. Safe to call more than once.
func (c *Cluster) Down() error {
	var errs []error
	c.downOnce.Do(func() {
		start := time.Now()
		stops := make([]error, len(c.Nodes))
		var wg sync.WaitGroup
		for i, n := range c.Nodes {
			wg.Add(1)
			go func() { defer wg.Done(); stops[i] = n.stop() }()
		}
		wg.Wait()
		errs = append(errs, stops...)
		c.mu.Lock()
		procs := c.procs
		c.mu.Unlock()
		for _, p := range procs {
			if err := stopGroup(p.cmd.Process.Pid, p.done, 5*time.Second); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
			}
			p.log.Close()
		}
		errs = append(errs, removeAll(c.ID, c.Dir, c.chain, c.rules, c.netnses, c.links, c.cgroups)...)
		for _, err := range errs {
			if err != nil {
				c.logf("testcluster: cleanup: %v", err)
			}
		}
		c.logf("testcluster: %s removed in %s", c.ID, time.Since(start).Round(time.Millisecond))
	})
	return errors.Join(errs...)
}

// stop ends the node's engine: SIGTERM (it stops its containers), SIGKILL
// to the whole PID namespace after 20 s.
func (n *Node) stop() error {
	if n.cmd == nil || n.cmd.Process == nil {
		return nil
	}
	select {
	case <-n.done:
		return nil
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
		return nil
	case <-time.After(20 * time.Second):
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-n.done:
		return nil
	case <-time.After(20 * time.Second):
		return fmt.Errorf("the engine of %s (PID %d) still runs after SIGKILL", n.Name, n.PID())
	}
}

// stopGroup ends the process group of pid: SIGTERM, SIGKILL after d.
func stopGroup(pid int, done <-chan struct{}, d time.Duration) error {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(d):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("PID %d still runs after SIGKILL", pid)
	}
}

// removeAll removes the named things of a cluster whose processes are
// gone: iptables rules, namespaces, links, cgroups, mounts under dir, dir.
func removeAll(id, dir, chain string, rules [][]string, netnses, links, cgroups []string) []error {
	var errs []error
	for _, rule := range rules {
		if err := run(append([]string{"iptables", "-D", chain}, rule...)...); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range netnses {
		if err := run("ip", "netns", "delete", ns); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
	}
	for _, l := range links {
		// A veth goes with its peer's namespace: only what is left.
		if exec.Command("ip", "link", "show", l).Run() == nil {
			if err := run("ip", "link", "delete", l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, cg := range cgroups {
		if err := removeCgroup(cg); err != nil {
			errs = append(errs, err)
		}
	}
	if dir != "" {
		for _, m := range mountsUnder(dir) {
			if err := run("umount", "-l", m); err != nil {
				errs = append(errs, err)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// removeCgroup removes the cgroup name (the engine's --cgroup-parent) in
// every hierarchy, deepest first, once its processes are gone.
func removeCgroup(name string) error {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
	if d := "/sys/fs/cgroup/" + name; isDir(d) {
		roots = append(roots, d) // cgroup v2
	}
	var last error
	for _, root := range roots {
		var dirs []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			for try := 0; ; try++ {
				err := syscall.Rmdir(d)
				if err == nil || errors.Is(err, syscall.ENOENT) {
					break
				}
				if try == 50 {
					last = fmt.Errorf("cgroup %s: %v", d, err)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	return last
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// mountsUnder are the mount points of this mount namespace under dir,
// deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			mounts = append(mounts, fields[4])
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts
}

var staleName = regexp.MustCompile(`^` + Stem + `(\d+)([a-z]\d*)$`)

// Sweep removes the clusters of processes that are gone (a run killed
// before its Down): their processes (found by the cluster folder in their
// command line, stopped by PID), iptables rules, namespaces, links,
// cgroups and folders. Clusters of living processes are left alone.
func Sweep(logf func(format string, args ...any)) {
	dead := map[string]bool{}
	isDead := func(pid string) bool {
		n, _ := strconv.Atoi(pid)
		return n > 0 && syscall.Kill(n, 0) == syscall.ESRCH
	}
	var netnses, links, cgroups []string
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				if m := staleName.FindStringSubmatch(f[0]); m != nil && isDead(m[1]) {
					dead[Stem+m[1]] = true
					netnses = append(netnses, f[0])
					cgroups = append(cgroups, f[0])
				}
			}
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if m := staleName.FindStringSubmatch(name); m != nil && isDead(m[1]) {
				dead[Stem+m[1]] = true
				links = append(links, name)
			}
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), Stem+"*-*"))
	for _, d := range dirs {
		base := filepath.Base(d)
		id, _, _ := strings.Cut(base, "-")
		if m := regexp.MustCompile(`^` + Stem + `(\d+)$`).FindStringSubmatch(id); m != nil && isDead(m[1]) {
			dead[id] = true
		}
	}
	for id := range dead {
		logf("testcluster: removing the leftovers of %s (its process is gone)", id)
		dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), id+"-*"))
		for _, d := range dirs {
			for _, pid := range processesMentioning(d + "/") {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		// And whatever else still runs in its nodes' network namespaces
		// (an sshd a test started there, say).
		for _, ns := range netnses {
			if !strings.HasPrefix(ns, id+"n") {
				continue
			}
			out, _ := exec.Command("ip", "netns", "pids", ns).Output()
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		time.Sleep(time.Second)
		var mine []string
		for _, l := range links {
			if strings.HasPrefix(l, id) && staleName.FindStringSubmatch(l)[1] == strings.TrimPrefix(id, Stem) {
				mine = append(mine, l)
			}
		}
		var ns, cg []string
		for i, n := range netnses {
			if staleName.FindStringSubmatch(n)[1] == strings.TrimPrefix(id, Stem) {
				ns = append(ns, n)
				cg = append(cg, cgroups[i])
			}
		}
		for _, chain := range []string{"DOCKER-USER", "FORWARD"} {
			for _, rule := range rulesWithComment(chain, id) {
				if err := run(append([]string{"iptables", "-D", chain}, rule...)...); err != nil {
					logf("testcluster: %v", err)
				}
			}
		}
		for _, err := range removeAll(id, "", "", nil, ns, mine, cg) {
			logf("testcluster: %v", err)
		}
		for _, d := range dirs {
			for _, err := range removeAll(id, d, "", nil, nil, nil, nil) {
				logf("testcluster: %v", err)
			}
		}
	}
}

// processesMentioning are the PIDs whose command line contains s.
func processesMentioning(s string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// rulesWithComment are the rules of chain (as iptables -D arguments) that
// carry the comment id.
func rulesWithComment(chain, id string) [][]string {
	out, err := exec.Command("iptables", "-S", chain).Output()
	if err != nil {
		return nil
	}
	var rules [][]string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[0] == "-A" && strings.Contains(line, "--comment "+id+" ") {
			rules = append(rules, f[2:])
		}
	}
	return rules
}

func lastLines(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
