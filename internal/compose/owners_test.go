package compose

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// The hardened stacks run redis as the redis user and the backend as the
// starter's, which must own their data folders; the debug and test stacks
// run them as the images' default users.
func TestOwnersOfTheDataFolders(t *testing.T) {
	for _, c := range []struct {
		env  string
		os   map[string]string
		want []string
	}{
		{"prod", nil, []string{"10001:10001 backend/.data", "999:999 backend/.redis_data"}},
		{"release", map[string]string{"VERSION": "1.2.3"}, []string{"10001:10001 backend/.data", "999:999 backend/.redis_data"}},
		{"prod", map[string]string{"REDIS_USER": "1001:1002"}, []string{"10001:10001 backend/.data", "1001:1002 backend/.redis_data"}},
		{"prod", map[string]string{"REDIS_USER": "0:0", "BACKEND_USER": "0:0"}, nil},
		{"debug", nil, nil},
		{"test", nil, nil},
	} {
		t.Run(c.env+"/"+c.os["REDIS_USER"], func(t *testing.T) {
			p, err := load(t, repoRoot, c.env, c.os)
			if err != nil {
				t.Fatal(err)
			}
			project, err := p.Load(context.Background(), environ(c.os))
			if err != nil {
				t.Fatal(err)
			}
			owners, err := Owners(project, repoRoot)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range owners {
				got = append(got, o.String())
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("owners %v, want %v", got, c.want)
			}
		})
	}
}

func TestOwnersWantANumericUser(t *testing.T) {
	e, _ := stack.LookupEnvironment("prod")
	env, err := stack.LoadEnv(repoRoot, e, []string{"REDIS_USER=redis"})
	if err != nil {
		t.Fatal(err)
	}
	project, err := NewProject(repoRoot, env, "").Load(context.Background(), []string{"REDIS_USER=redis"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Owners(project, filepath.Clean(repoRoot)); err == nil {
		t.Fatal("a user name was accepted: the tool cannot resolve it on the host")
	}
}

// nginx runs as 101:101 in every stack and reads its private keys from the
// tool's folder, and in prod and release from certbot's too: those keys
// must be its user's.
func TestReadersOfTheKeyFolders(t *testing.T) {
	keyFolders := []string{stack.SSLDir, stack.CertbotConfig}
	for _, c := range []struct {
		env  string
		os   map[string]string
		want []string
	}{
		{"debug", nil, []string{"101:101 nginx/data/ssl"}},
		{"test", nil, []string{"101:101 nginx/data/ssl"}},
		{"prod", nil, []string{"101:101 nginx/data/certbot/conf", "101:101 nginx/data/ssl"}},
		{"release", map[string]string{"VERSION": "1.2.3"}, []string{"101:101 nginx/data/certbot/conf", "101:101 nginx/data/ssl"}},
	} {
		t.Run(c.env, func(t *testing.T) {
			p, err := load(t, repoRoot, c.env, c.os)
			if err != nil {
				t.Fatal(err)
			}
			project, err := p.Load(context.Background(), environ(c.os))
			if err != nil {
				t.Fatal(err)
			}
			readers, err := Readers(project, repoRoot, keyFolders)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range readers {
				got = append(got, r.String())
				if r.Service != "nginx" || !strings.Contains(r.Image, "/nginx:") {
					t.Errorf("%s: service %s, image %s: want nginx's", r.Dir, r.Service, r.Image)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("readers %v, want %v", got, c.want)
			}
			// The folders nginx reads are not folders it writes.
			owners, _ := Owners(project, repoRoot)
			for _, o := range owners {
				if o.Service == "nginx" {
					t.Errorf("nginx owns %s", o.Dir)
				}
			}
		})
	}
}

// A key has one owner: two users reading one key folder is an error that
// names both services.
func TestReadersOfOneFolderShareAUser(t *testing.T) {
	root := t.TempDir()
	service := func(name, user string) types.ServiceConfig {
		svc := types.ServiceConfig{Name: name}
		svc.User = user
		svc.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeBind, Source: filepath.Join(root, "nginx/data/ssl"), Target: "/ssl", ReadOnly: true}}
		return svc
	}
	project := &types.Project{Services: types.Services{"nginx": service("nginx", "101:101"), "proxy": service("proxy", "102")}}
	_, err := Readers(project, root, []string{"nginx/data/ssl"})
	if err == nil || !strings.Contains(err.Error(), "nginx (user 101) and proxy (user 102) both read the private keys in nginx/data/ssl") {
		t.Fatalf("got %v", err)
	}
	project.Services["proxy"] = service("proxy", "101")
	if readers, err := Readers(project, root, []string{"nginx/data/ssl"}); err != nil || len(readers) != 1 {
		t.Fatalf("one user, two services: %v, %v", readers, err)
	}
}

// The folders made before a stack starts are the ones its compose file
// mounts writable: the data folders in prod and release, the source
// folders and redis's in debug; never a read-only mount or a file.
func TestWritableBinds(t *testing.T) {
	for env, want := range map[string][]string{
		"prod":  {"backend/.data", "backend/.redis_data"},
		"debug": {"backend", "backend/.redis_data", "frontend"},
		"test":  nil,
	} {
		p, err := load(t, repoRoot, env, nil)
		if err != nil {
			t.Fatal(err)
		}
		project, err := p.Load(context.Background(), environ(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := WritableBinds(project, repoRoot); !slices.Equal(got, want) {
			t.Errorf("%s: WritableBinds %v, want %v", env, got, want)
		}
	}
}
