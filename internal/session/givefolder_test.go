package session

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/testenv"
)

// repoRoot is the project, whose compose files name redis's image.
var repoRoot, _ = filepath.Abs("../..")

// giveFolderChild names, in the environment of a child test process, the
// project folder whose data folder it gives away as the unprivileged user
// it runs as.
const giveFolderChild = "DTX_TEST_GIVE_FOLDER_AS_USER"

// unprivileged is the user (nobody) the child runs as when the test runs as
// root.
const unprivileged = 65534

// The data folder, and what an earlier root-run redis wrote in it, become
// the user's that redis runs as in the hardened stacks: directly when the
// tool runs as root, through a one-off container of redis's image when it
// does not (a developer, a GitHub runner's user). Each way runs wherever the
// machine allows it: as root, the second runs in a child test process as
// an unprivileged user in the engine socket's group (as a member of the
// docker group is); as another user, the first cannot run. Ownership is
// read from the files, as the user would see it.
func TestGiveFolderMakesTheDataTheServicesUsers(t *testing.T) {
	if root := os.Getenv(giveFolderChild); root != "" {
		giveRedisFolder(t, root) // the child: its failure is its exit status
		return
	}
	if os.Geteuid() == 0 {
		t.Run("as root: directly", func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, root, "backend/.redis_data/appendonlydir/appendonly.aof.1.base.rdb", "REDIS")
			log := giveRedisFolder(t, root)
			checkOwned(t, root, 999, 998)
			if !strings.Contains(log, "made backend/.redis_data 999:998's, the user redis runs as") || strings.Contains(log, "docker run") {
				t.Errorf("not done directly, or not said: %q", log)
			}
		})
	}
	t.Run("as a user who is not root: through a container", func(t *testing.T) {
		if out, err := exec.CommandContext(t.Context(), "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
			testenv.Missing(t, fmt.Sprintf("no Docker engine answers (%v: %s); bash .ci/engine.sh up starts one", err, bytes.TrimSpace(out)))
		}
		root := t.TempDir()
		// What a root-run redis wrote: root's when the test runs as root.
		writeFile(t, root, "backend/.redis_data/appendonlydir/appendonly.aof.1.base.rdb", "REDIS")
		if os.Geteuid() != 0 {
			// The files become redis's, which this user cannot remove:
			// give them back the same way for t.TempDir's removal.
			t.Cleanup(func() {
				exec.Command("docker", "run", "--rm", "--network", "none", "--user", "0:0", "--entrypoint", "chown",
					"-v", filepath.Join(root, "backend/.redis_data")+":/data", redisImage(t), "-R", strconv.Itoa(os.Getuid())+":"+strconv.Itoa(os.Getgid()), "/data").Run()
			})
			log := giveRedisFolder(t, root)
			checkOwned(t, root, 999, 998)
			if !strings.Contains(log, "docker run --rm --network none --user 0:0 --entrypoint chown") {
				t.Errorf("not given through a container: %q", log)
			}
			return
		}
		// The project is the user's; its data folder holds root's files.
		for _, dir := range []string{filepath.Dir(root), root} { // t.TempDir's are root's alone
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, dir := range []string{root, filepath.Join(root, "backend")} {
			if err := os.Chown(dir, unprivileged, unprivileged); err != nil {
				t.Fatal(err)
			}
		}
		out, err := runAsUnprivileged(t, root)
		t.Logf("the child, as user %d:\n%s", unprivileged, out)
		if err != nil {
			t.Fatalf("the child failed: %v", err)
		}
		checkOwned(t, root, 999, 998)
		if !strings.Contains(out, "docker run --rm --network none --user 0:0 --entrypoint chown") {
			t.Errorf("not given through a container")
		}
	})
}

// giveRedisFolder runs giveFolder on root's backend/.redis_data for redis
// as 999:998 (the image: REDIS_IMAGE, else the compose files' default) and
// returns what the tool said.
func giveRedisFolder(t *testing.T, root string) string {
	t.Helper()
	var out, log bytes.Buffer
	s := &Stack{Session: New(Config{Root: root, Stdout: &out, Stderr: &log,
		Environ: []string{"PATH=" + os.Getenv("PATH"), "DOCKER_HOST=" + os.Getenv("DOCKER_HOST"), "HOME=" + os.Getenv("HOME")}})}
	owner := compose.Owner{Dir: "backend/.redis_data", UID: 999, GID: 998, Service: "redis", Image: redisImage(t)}
	err := s.giveFolder(context.Background(), owner)
	said := log.String() + out.String()
	t.Logf("as %d: %s", os.Geteuid(), said)
	if err != nil {
		t.Fatalf("giveFolder: %v", err)
	}
	return said
}

// redisImage is the image the release stack runs redis from here.
func redisImage(t *testing.T) string {
	if img := os.Getenv("REDIS_IMAGE"); img != "" {
		return img
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.release.yaml"))
	m := regexp.MustCompile(`\$\{REDIS_IMAGE:-([^}]+)\}`).FindSubmatch(data)
	if err != nil || m == nil {
		t.Fatalf("no ${REDIS_IMAGE:-…} in docker-compose.release.yaml: %v", err)
	}
	return string(m[1])
}

// runAsUnprivileged runs this test again, as the unprivileged user with
// the group of the engine's socket (reaching the engine, as a member of
// the docker group does), on root.
func runAsUnprivileged(t *testing.T, root string) (string, error) {
	t.Helper()
	// A copy of the test binary that the user can run (go test's build
	// folder is root's alone), and a home of its own for the docker CLI.
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, unprivileged, unprivileged); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "targets.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	groups := []uint32{}
	if gid, ok := socketGroup(os.Getenv("DOCKER_HOST")); ok {
		groups = append(groups, gid)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestGiveFolderMakesTheDataTheServicesUsers$", "-test.v")
	cmd.Dir = root
	cmd.Env = []string{giveFolderChild + "=" + root, "PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"DOCKER_HOST=" + os.Getenv("DOCKER_HOST"), "REDIS_IMAGE=" + redisImage(t)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: unprivileged, Gid: unprivileged, Groups: groups}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// socketGroup is the group of the engine's unix socket (DOCKER_HOST, else
// the default one).
func socketGroup(host string) (uint32, bool) {
	path := "/var/run/docker.sock"
	if p, ok := strings.CutPrefix(host, "unix://"); ok {
		path = p
	} else if host != "" {
		return 0, false
	}
	info, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return info.Sys().(*syscall.Stat_t).Gid, true
}

// checkOwned fails unless every file of root's backend/.redis_data is
// uid:gid's.
func checkOwned(t *testing.T, root string, uid, gid int) {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(root, "backend/.redis_data"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		info, _ := d.Info()
		n++
		if st := info.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s is %d:%d, want %d:%d", path, st.Uid, st.Gid, uid, gid)
		}
		return nil
	})
	if n != 3 {
		t.Errorf("%d entries under backend/.redis_data, want the folder, appendonlydir and the file", n)
	}
}
