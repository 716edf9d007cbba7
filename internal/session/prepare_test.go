package session

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/testenv"
)

func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A data folder that is a link is refused before anything is made or
// given away.
func TestDataFolderLinkRefused(t *testing.T) {
	root := t.TempDir()
	elsewhere := t.TempDir()
	writeFile(t, root, "docker-compose.prod.yaml", "services:\n  redis:\n    image: redis\n    user: \"999:999\"\n    volumes: [\"./backend/.redis_data:/data\"]\n")
	writeFile(t, root, "docker/.env.prod", "DOMAIN=example.com\n")
	os.MkdirAll(filepath.Join(root, "backend"), 0o755)
	if err := os.Symlink(elsewhere, filepath.Join(root, "backend/.redis_data")); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	st, err := New(Config{Root: root, Stderr: &log}).Open("prod")
	if err != nil {
		t.Fatal(err)
	}
	err = st.Prepare(context.Background())
	if err == nil || !strings.Contains(err.Error(), "backend/.redis_data is a symbolic link") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "nginx")); err == nil {
		t.Error("folders were made despite the refusal")
	}
}

// keyLayout writes the tool's self-signed pair, and what certbot leaves in
// its config folder: live/NAME/ links into archive/NAME/ (both 0700 at the
// top, as certbot makes them), the key before the current one, and the
// ACME account's key, which is certbot's alone.
func keyLayout(t *testing.T, root string) {
	t.Helper()
	writeFile(t, root, "nginx/data/ssl/fullchain.pem", "CERT")
	writeFile(t, root, "nginx/data/ssl/privkey.pem", "KEY")
	os.Chmod(filepath.Join(root, "nginx/data/ssl/privkey.pem"), 0o640) // made by hand, say
	conf := "nginx/data/certbot/conf/"
	for _, f := range []string{"archive/dtx.test/fullchain1.pem", "archive/dtx.test/fullchain2.pem", "accounts/acme/private_key.json"} {
		writeFile(t, root, conf+f, "PUBLIC")
	}
	for _, f := range []string{"archive/dtx.test/privkey1.pem", "archive/dtx.test/privkey2.pem", "accounts/acme/private_key.json"} {
		writeFile(t, root, conf+f, "KEY")
		os.Chmod(filepath.Join(root, conf+f), 0o600)
	}
	os.MkdirAll(filepath.Join(root, conf+"live/dtx.test"), 0o755)
	for _, link := range [][2]string{{"fullchain.pem", "fullchain2.pem"}, {"privkey.pem", "privkey2.pem"}} {
		if err := os.Symlink("../../archive/dtx.test/"+link[1], filepath.Join(root, conf+"live/dtx.test", link[0])); err != nil {
			t.Fatal(err)
		}
	}
	// A link out of the folder is not the project's: it is left alone.
	outside := filepath.Join(t.TempDir(), "privkey.pem")
	os.WriteFile(outside, []byte("KEY"), 0o600)
	os.MkdirAll(filepath.Join(root, conf+"live/elsewhere"), 0o755)
	os.Symlink(outside, filepath.Join(root, conf+"live/elsewhere/privkey.pem"))
	for _, d := range []string{"live", "archive", "accounts"} {
		os.Chmod(filepath.Join(root, conf+d), 0o700)
	}
}

// checkKeys asserts who owns what after the keys were given to uid: the
// served keys uid's, mode 0600, their group kept; the folders on their way
// enterable; the rest (an older key, the account key) as it was.
func checkKeys(t *testing.T, root string, uid int) {
	t.Helper()
	stat := func(rel string) (os.FileMode, *syscall.Stat_t) {
		info, err := os.Stat(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return info.Mode().Perm(), info.Sys().(*syscall.Stat_t)
	}
	for _, key := range []string{"nginx/data/ssl/privkey.pem", "nginx/data/certbot/conf/archive/dtx.test/privkey2.pem"} {
		if mode, st := stat(key); int(st.Uid) != uid || st.Gid != 0 || mode != 0o600 {
			t.Errorf("%s: %d:%d mode %o, want %d:0 (group kept) mode 600", key, st.Uid, st.Gid, mode, uid)
		}
	}
	for _, dir := range []string{"nginx/data/certbot/conf/live", "nginx/data/certbot/conf/archive"} {
		if mode, _ := stat(dir); mode != 0o711 {
			t.Errorf("%s: mode %o, want 711 (others may enter, not list)", dir, mode)
		}
	}
	for _, rel := range []string{"nginx/data/certbot/conf/archive/dtx.test/privkey1.pem", "nginx/data/certbot/conf/accounts/acme/private_key.json"} {
		if mode, st := stat(rel); st.Uid != 0 || mode != 0o600 {
			t.Errorf("%s: %d mode %o, want root's and 600 as it was", rel, st.Uid, mode)
		}
	}
	if mode, _ := stat("nginx/data/certbot/conf/accounts"); mode != 0o700 {
		t.Errorf("accounts/: mode %o, want 700 as it was", mode)
	}
	if _, st := stat("nginx/data/certbot/conf/live/elsewhere/privkey.pem"); st.Uid != 0 {
		t.Errorf("a key out of the project's folder was given to %d", st.Uid)
	}
}

// giveAllKeys gives both key folders of keyLayout to nginx (101) and
// returns what the tool said.
func giveAllKeys(t *testing.T, root, image string) string {
	t.Helper()
	var log bytes.Buffer
	s := &Stack{Session: New(Config{Root: root, Stderr: &log})}
	for _, dir := range keyFolders {
		if err := s.giveKeys(context.Background(), compose.Owner{Dir: dir, UID: 101, GID: 101, Service: "nginx", Image: image}, 101, "the user nginx runs as"); err != nil {
			t.Fatalf("%s: %v\n%s", dir, err, log.String())
		}
	}
	return log.String()
}

// nginx runs as 101: the keys it serves become 101's, as root directly.
func TestGiveKeysMakesThemNginxsAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown (CI runs as root)")
	}
	root := t.TempDir()
	keyLayout(t, root)
	log := giveAllKeys(t, root, "")
	checkKeys(t, root, 101)
	for _, want := range []string{
		"made nginx/data/ssl/privkey.pem 101's, mode 0600 (the user nginx runs as)",
		"made nginx/data/certbot/conf/archive/dtx.test/privkey2.pem 101's, mode 0600, and let it enter nginx/data/certbot/conf/archive, nginx/data/certbot/conf/live (the user nginx runs as)",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("not said: %q in\n%s", want, log)
		}
	}
	if again := giveAllKeys(t, root, ""); again != "" {
		t.Errorf("a second time changed something: %s", again)
	}
}

// A user who is not root gets there through a one-off container of the
// service's image, on the real engine; and takes certbot's keys back the
// same way (TakeCertbotKeys), so that certbot can read them.
func TestGiveKeysThroughAContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to set up root-owned files (CI runs as root)")
	}
	image := os.Getenv("DTX_BASE_IMAGE")
	if image == "" || exec.Command("docker", "image", "inspect", image).Run() != nil {
		testenv.Missing(t, "no Docker engine with the base image DTX_BASE_IMAGE: source /tmp/dtx-engine/env.sh after .ci/engine.sh up")
	}
	defer func(was func() bool) { runsAsRoot = was }(runsAsRoot)
	runsAsRoot = func() bool { return false }
	root := t.TempDir()
	keyLayout(t, root)
	log := giveAllKeys(t, root, image)
	checkKeys(t, root, 101)
	for _, want := range []string{
		"docker run --rm --network none --user 0:0 --entrypoint chown -v " + filepath.Join(root, "nginx/data/ssl") + ":/keys " + image + " 101 /keys/privkey.pem",
		"--entrypoint chmod -v " + filepath.Join(root, "nginx/data/certbot/conf") + ":/keys " + image + " go+x /keys/archive /keys/live",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("not run: %q in\n%s", want, log)
		}
	}
	var back bytes.Buffer
	s := &Stack{Session: New(Config{Root: root, Stderr: &back})}
	if err := s.giveKeys(context.Background(), compose.Owner{Dir: "nginx/data/certbot/conf", Service: "nginx", Image: image}, 0, "the tool's user, for certbot"); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(filepath.Join(root, "nginx/data/certbot/conf/archive/dtx.test/privkey2.pem"))
	if st := info.Sys().(*syscall.Stat_t); st.Uid != 0 || info.Mode().Perm() != 0o600 {
		t.Errorf("taken back: %d mode %o, want 0 and 600\n%s", st.Uid, info.Mode().Perm(), back.String())
	}
}
