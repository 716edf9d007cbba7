package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Fatal and Skip instead of stopping.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()           {}
func (r *recorder) Fatal(args ...any) { r.fatal = args[0].(string) }
func (r *recorder) Skip(args ...any)  { r.skip = args[0].(string) }

func TestMissingSkipsOrFails(t *testing.T) {
	t.Setenv("DTX_E2E", "")
	r := &recorder{}
	Missing(r, "no engine")
	if r.skip != "no engine" || r.fatal != "" {
		t.Errorf("without DTX_E2E: skip %q fatal %q, want a skip", r.skip, r.fatal)
	}
	t.Setenv("DTX_E2E", "required")
	r = &recorder{}
	Missing(r, "no engine")
	if r.fatal != "no engine" || r.skip != "" {
		t.Errorf("DTX_E2E=required: skip %q fatal %q, want a failure", r.skip, r.fatal)
	}
}

func TestNeedCommand(t *testing.T) {
	t.Setenv("DTX_E2E", "required")
	r := &recorder{}
	NeedCommand(r, "sh", "install a shell")
	if r.fatal != "" || r.skip != "" {
		t.Errorf("sh is on PATH, yet: skip %q fatal %q", r.skip, r.fatal)
	}
	NeedCommand(r, "dtx-no-such-command", "it does not exist")
	if want := "dtx-no-such-command is not on PATH: it does not exist"; r.fatal != want {
		t.Errorf("fatal %q, want %q", r.fatal, want)
	}
}

// Which packages go test runs, read from its command line as go reads it.
func TestGoTestRuns(t *testing.T) {
	root := "/src/site"
	summaryDir, summaryPath := root+"/testsummary", "example.com/site/testsummary"
	cases := []struct {
		dir  string
		args string
		want bool
	}{
		{root, "./...", true},
		{root, "-count=1 -timeout 40m ./...", true},
		{root, "-v -race ./...", true},
		{root, "-run TestX ./...", true},
		{root, "-run ./... ./internal/...", false}, // ./... is -run's value
		{root, "./internal/... ./test/e2e", false},
		{root, "./test/...", false},
		{root, "./testsummary", true},
		{root, "example.com/site/...", true},
		{root, "example.com/site/internal/...", false},
		{root, "all", true},
		{root, "", false},
		{summaryDir, "", true},
		{summaryDir, ".", true},
		{root + "/test/e2e", "../../...", true},
		{root + "/test/e2e", "./...", false},
		{root, "./... -args -test.v", true},
		{root, "-args ./...", false},
		{root, "/src/site/...", true},
		{root, ".../testsummary", true},
	}
	for _, c := range cases {
		g := &goTest{args: strings.Fields(c.args), dir: c.dir}
		if got := g.runs(summaryDir, summaryPath); got != c.want {
			t.Errorf("go test %s in %s runs testsummary: %v, want %v (packages %q)", c.args, c.dir, got, c.want, g.packages())
		}
	}
	if !(&goTest{args: []string{"-json", "./..."}}).json() || (&goTest{args: []string{"./...", "-args", "-json"}}).json() {
		t.Error("-json is not read right")
	}
}

// A test binary knows the go test that runs it.
func TestParentGoTest(t *testing.T) {
	g := parentGoTest()
	if g == nil {
		t.Skip("not run by go test")
	}
	if g.pid != os.Getppid() || g.start == "" || g.dir == "" {
		t.Fatalf("%+v", g)
	}
}

// module writes a module that shows what go test ./... prints around the
// notes: a fast package, the skipping suite (as test/e2e: its TestMain is
// testenv.Main, its test skips for want of an engine), a slower package
// that sorts after it (so that a note printed when the suite ends would be
// in the middle), and testsummary; testenv is this package's source.
func module(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/site\n\ngo 1.26\n")
	sources, _ := filepath.Glob("*.go")
	for _, f := range sources {
		if !strings.HasSuffix(f, "_test.go") {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			write("internal/testenv/"+f, string(data))
		}
	}
	summary, _ := filepath.Glob("../../testsummary/*.go")
	for _, f := range summary {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		write("testsummary/"+filepath.Base(f), strings.ReplaceAll(string(data), "github.com/kettleofketchup/dtx_website/", "example.com/site/"))
	}
	write("fast/fast_test.go", "package fast\n\nimport \"testing\"\n\nfunc TestFast(t *testing.T) {}\n")
	write("test/e2e/e2e_test.go", `package e2e

import (
	"testing"

	"example.com/site/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, "the end-to-end suites (test/e2e)") }

func TestStack(t *testing.T) { testenv.Missing(t, "no Docker engine answers") }
`)
	write("test/slow/slow_test.go", "package slow\n\nimport (\n\t\"testing\"\n\t\"time\"\n)\n\nfunc TestSlow(t *testing.T) { time.Sleep(time.Second) }\n")
	return root
}

// goTestAll runs go test ./... in root with its output going to out (both
// streams, as `> file 2>&1` or `| tee` does).
func goTestAll(t *testing.T, root string, out *os.File, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"test"}, append(args, "./...")...)...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, out, out
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "DTX_E2E" && k != "GOFLAGS" {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if err := cmd.Run(); err != nil {
		t.Fatalf("go test ./...: %v", err)
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[max(0, len(lines)-n):]
}

// canCopyParentFd reports whether this process may copy a descriptor of
// its parent (pidfd_getfd), as a test binary must to write into a file
// that go test writes without appending.
func canCopyParentFd() bool {
	g := &goTest{pid: os.Getppid(), start: startTime(os.Getppid())}
	f := g.copyOfFd(1)
	if f != nil {
		f.Close()
	}
	return f != nil
}

// go test ./... without an engine ends with the note, whether its output
// goes to a file (written from the start, or appended to) or to a pipe,
// on a first run and on a rerun from go test's cache.
func TestGoTestEndsWithTheNote(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the note reaches go test's output through /proc")
	}
	root := module(t)
	note := strings.TrimSuffix(Note("the end-to-end suites (test/e2e)", "no Docker engine answers"), "\n")
	check := func(t *testing.T, output string, run int, noteExpected bool) {
		t.Helper()
		last := lastLines(output, 2)
		wantOK := "ok  \texample.com/site/testsummary\t"
		if noteExpected && (len(last) != 2 || last[0] != note || !strings.HasPrefix(last[1], wantOK)) {
			t.Fatalf("run %d does not end with the note, then testsummary's line:\n%s", run, output)
		}
		if !noteExpected && strings.Contains(output, "note: ") {
			t.Fatalf("run %d: a note where go test writes without appending, and cannot be written into safely:\n%s", run, output)
		}
		if strings.Count(output, "note: ") > 1 {
			t.Fatalf("run %d: the note is printed more than once:\n%s", run, output)
		}
		for _, want := range []string{"ok  \texample.com/site/fast\t", "ok  \texample.com/site/test/slow\t", "ok  \texample.com/site/test/e2e\t"} {
			if !strings.Contains(output, want) {
				t.Fatalf("run %d: no %q line (the note landed over it?):\n%s", run, want, output)
			}
		}
		if run == 2 && (!strings.Contains(output, "example.com/site/test/slow\t(cached)") || strings.Contains(output, "test/e2e\t(cached)")) {
			t.Fatalf("run 2: the slow package should come from the cache, the skipping suite should not:\n%s", output)
		}
	}
	t.Run("a file", func(t *testing.T) {
		for run := 1; run <= 2; run++ {
			path := filepath.Join(t.TempDir(), "log")
			f, err := os.Create(path) // as the shell's >: no O_APPEND
			if err != nil {
				t.Fatal(err)
			}
			goTestAll(t, root, f)
			f.Close()
			data, _ := os.ReadFile(path)
			check(t, string(data), run, canCopyParentFd())
		}
	})
	t.Run("a file appended to", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		for run := 1; run <= 2; run++ {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) // as >>
			if err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			goTestAll(t, root, f)
			f.Close()
			data, _ := os.ReadFile(path)
			if !bytes.HasPrefix(data, before) {
				t.Fatalf("run %d changed what the file held before", run)
			}
			check(t, string(data[len(before):]), run, true)
		}
	})
	t.Run("a pipe", func(t *testing.T) {
		for run := 1; run <= 2; run++ {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			done := make(chan struct{})
			go func() { got.ReadFrom(r); close(done) }()
			goTestAll(t, root, w)
			w.Close()
			<-done
			check(t, got.String(), run, true)
		}
	})
	t.Run("one package", func(t *testing.T) {
		// go test ./test/e2e: no testsummary; the suite prints its note.
		r, w, _ := os.Pipe()
		var got bytes.Buffer
		done := make(chan struct{})
		go func() { got.ReadFrom(r); close(done) }()
		cmd := exec.Command("go", "test", "./test/e2e")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, w, w
		cmd.Env = append(os.Environ(), "DTX_E2E=", "GOWORK=off")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		<-done
		if last := lastLines(got.String(), 2); last[0] != note {
			t.Fatalf("go test ./test/e2e:\n%s", got.String())
		}
	})
	t.Run("-v", func(t *testing.T) {
		f, _ := os.Create(filepath.Join(t.TempDir(), "log"))
		defer f.Close()
		goTestAll(t, root, f, "-v")
		data, _ := os.ReadFile(f.Name())
		if strings.Contains(string(data), "note: ") || !strings.Contains(string(data), "--- SKIP: TestStack") {
			t.Fatalf("with -v the skips show and no note is added:\n%s", data)
		}
	})
}

// The descriptor flags of a file opened for appending say so.
func TestAppends(t *testing.T) {
	dir := t.TempDir()
	appending, _ := os.OpenFile(filepath.Join(dir, "a"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	plain, _ := os.Create(filepath.Join(dir, "b"))
	defer appending.Close()
	defer plain.Close()
	g := &goTest{pid: os.Getpid()}
	if !g.appends(int(appending.Fd())) || g.appends(int(plain.Fd())) {
		t.Fatal("O_APPEND misread from /proc/self/fdinfo")
	}
}
