package engineapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSocketReadsTheEnvironmentAsTheCLIDoes(t *testing.T) {
	home := t.TempDir()
	withContext := t.TempDir()
	os.WriteFile(filepath.Join(withContext, "config.json"), []byte(`{"currentContext":"remote"}`), 0o600)
	defaultContext := t.TempDir()
	os.WriteFile(filepath.Join(defaultContext, "config.json"), []byte(`{"currentContext":"default","auths":{}}`), 0o600)
	for _, c := range []struct {
		env  map[string]string
		path string
		ok   bool
	}{
		{map[string]string{"DOCKER_HOST": "unix:///tmp/e/docker.sock"}, "/tmp/e/docker.sock", true},
		{map[string]string{"DOCKER_HOST": "ssh://me@host"}, "", false},
		{map[string]string{"DOCKER_HOST": "tcp://127.0.0.1:2376"}, "", false},
		{map[string]string{"DOCKER_CONTEXT": "remote", "HOME": home}, "", false},
		{map[string]string{"DOCKER_CONTEXT": "default", "DOCKER_CONFIG": withContext}, defaultSocket, true},
		{map[string]string{"HOME": home}, defaultSocket, true},
		{map[string]string{"DOCKER_CONFIG": withContext}, "", false},
		{map[string]string{"DOCKER_CONFIG": defaultContext}, defaultSocket, true},
	} {
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		if path, ok := Socket(lookup); path != c.path || ok != c.ok {
			t.Errorf("%v: Socket = %q, %v; want %q, %v", c.env, path, ok, c.path, c.ok)
		}
	}
}

// An engine stand-in on a unix socket: the request's path and the answers
// (found, not found) as the engine gives them.
func TestInspectImage(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/images/127.0.0.1:5000/dtx/nginx:1.2.3/json":
			w.Write([]byte(`{"Id":"sha256:ab","Size":321000000,"Created":"2026-12-07T04:51:02.123456789Z"}`))
			return
		case "/images/127.0.0.1:5000/dtx/backend:1.2.3/json":
			time.Sleep(20 * time.Millisecond) // answered last: the order is refs', not the answers'
			w.Write([]byte(`{"Id":"sha256:cd","Size":5,"Created":"2026-12-07T04:51:01Z"}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"No such image: 127.0.0.1:5000/dtx/gone:1"}`))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	img, err := InspectImage(context.Background(), sock, "127.0.0.1:5000/dtx/nginx:1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 7, 4, 51, 2, 123456789, time.UTC); img.Size != 321000000 || !img.Created.Equal(want) {
		t.Errorf("got %+v", img)
	}
	_, err = InspectImage(context.Background(), sock, "127.0.0.1:5000/dtx/gone:1")
	if err == nil || err.Error() != "No such image: 127.0.0.1:5000/dtx/gone:1" {
		t.Errorf("a missing image: %v", err)
	}
	var unreachable Unreachable
	if errors.As(err, &unreachable) {
		t.Errorf("an answer of the engine taken for an unreachable one: %v", err)
	}
	if _, err := InspectImage(context.Background(), filepath.Join(t.TempDir(), "none.sock"), "x"); !errors.As(err, &unreachable) {
		t.Errorf("no engine at the socket: %v, want Unreachable", err)
	}

	// Several at once, in the order asked; one missing fails them all.
	imgs, err := InspectImages(context.Background(), sock, []string{"127.0.0.1:5000/dtx/backend:1.2.3", "127.0.0.1:5000/dtx/nginx:1.2.3"})
	if err != nil || len(imgs) != 2 || imgs[0].Size != 5 || imgs[1].Size != 321000000 {
		t.Errorf("InspectImages: %+v, %v", imgs, err)
	}
	if _, err := InspectImages(context.Background(), sock, []string{"127.0.0.1:5000/dtx/nginx:1.2.3", "127.0.0.1:5000/dtx/gone:1"}); err == nil || errors.As(err, &unreachable) {
		t.Errorf("InspectImages with a missing image: %v", err)
	}
}
