package roles

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
)

// Declared data resolves to the host through the service's bind mount
// (the deepest that holds it); a stateful service that declares none keeps
// its data in its writable bind mounts; a read-only mount is never data.
func TestDataDeclaredAndByDefault(t *testing.T) {
	yaml := strings.Replace(starter, "    image: ${REGISTRY}/backend:${VERSION}\n",
		"    image: ${REGISTRY}/backend:${VERSION}\n"+
			"    volumes: [\"./backend:/app\", \"./backend/.data:/app/data\", \"./src:/app/src:ro\"]\n"+
			"    x-dtx: {data: [{path: /app/data/db.sqlite3, kind: sqlite}]}\n", 1) + `
  cache:
    image: memcached
    volumes: ["./cache:/var/cache", "./conf:/etc/conf:ro"]
`
	p := load(t, yaml)
	site, err := Derive(p, "compose.yaml", builtHere)
	if err != nil {
		t.Fatal(err)
	}
	dir := p.WorkingDir
	for _, c := range []struct {
		service, path string
		kind          DataKind
		source        string
	}{
		{"backend", "/app/data/db.sqlite3", SQLite, filepath.Join(dir, "backend/.data/db.sqlite3")},
		{"redis", "/data", Files, filepath.Join(dir, "data")},
		{"cache", "/var/cache", Files, filepath.Join(dir, "cache")},
	} {
		svc, _ := site.Get(c.service)
		if len(svc.Data) != 1 || svc.Data[0].Path != c.path || svc.Data[0].Kind != c.kind || svc.Data[0].Source != c.source {
			t.Errorf("%s: data %+v, want %s %s at %s", c.service, svc.Data, c.kind, c.path, c.source)
		}
	}
	for _, name := range []string{"frontend", "nginx"} {
		if svc, _ := site.Get(name); len(svc.Data) != 0 {
			t.Errorf("%s keeps no data, got %+v", name, svc.Data)
		}
	}
}

// The repository's own compose files declare the starter's data: redis's
// folder and the backend's SQLite file, on the folders the tool makes.
func TestDataOfTheProjectsStacks(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, env := range []string{"prod", "release"} {
		file := filepath.Join(root, "docker-compose."+env+".yaml")
		opts, err := cli.NewProjectOptions([]string{file}, cli.WithName("t"), cli.WithWorkingDirectory(root),
			cli.WithEnvFiles(filepath.Join(root, "docker/.env."+env)), cli.WithDotEnv,
			cli.WithEnv([]string{"REGISTRY=" + registry}), cli.WithInterpolation(true))
		if err != nil {
			t.Fatal(err)
		}
		p, err := opts.LoadProject(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		site, err := Derive(p, file, func(image string) bool { return strings.HasPrefix(image, registry+"/") })
		if err != nil {
			t.Fatal(err)
		}
		redis, _ := site.Get("redis")
		backend, _ := site.Get("backend")
		if len(redis.Data) != 1 || redis.Data[0].Kind != Redis || !strings.HasSuffix(redis.Data[0].Source, "/backend/.redis_data") {
			t.Errorf("%s: redis: %+v", env, redis.Data)
		}
		if len(backend.Data) != 1 || backend.Data[0].Kind != SQLite || !strings.HasSuffix(backend.Data[0].Source, "/backend/.data/db.sqlite3") {
			t.Errorf("%s: backend: %+v", env, backend.Data)
		}
	}
}

// A bad declaration is refused in one line naming the file, the service,
// the key and what to do.
func TestDataDeclarationRefused(t *testing.T) {
	for _, c := range []struct{ decl, want string }{
		{"everything", "x-dtx.data must be a list of {path: /in/the/container, kind: redis|sqlite|files}"},
		{"[/data]", "x-dtx.data[0] must be a mapping {path, kind}"},
		{"[{path: data, kind: redis}]", `x-dtx.data[0].path "data": name a file or folder in the container by its absolute path`},
		{"[{path: /data/../etc, kind: redis}]", `x-dtx.data[0].path "/data/../etc"`},
		{"[{path: /data, kind: postgres}]", `x-dtx.data[0].kind "postgres": use one of redis, sqlite, files`},
		{"[{path: /data, kind: redis, every: 1h}]", `x-dtx.data[0] has no key "every": it takes path and kind`},
		{"[{path: /var/lib/x, kind: files}]", "x-dtx.data path /var/lib/x is on no writable bind mount of the service: mount a folder of the project there (volumes: [./folder:/var/lib])"},
	} {
		yaml := strings.Replace(starter, `volumes: ["./data:/data"]`, `volumes: ["./data:/data", "./ro:/var/lib:ro"]`+"\n    x-dtx: {data: "+c.decl+"}", 1)
		_, err := Derive(load(t, yaml), "compose.yaml", builtHere)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want %q", c.decl, err, c.want)
		} else if !strings.HasPrefix(err.Error(), "compose.yaml: service redis: ") {
			t.Errorf("%s: err = %v does not name the file and service", c.decl, err)
		}
	}
}
