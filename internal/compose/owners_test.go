package compose

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

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
