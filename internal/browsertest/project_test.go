package browsertest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// unpack writes entries as docker cp would stream them and unpacks them
// into a fresh folder.
func unpack(t *testing.T, entries []tar.Header) (string, Unpacked, error) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		if err := tw.WriteHeader(&e); err != nil {
			t.Fatal(err)
		}
		if e.Size > 0 {
			tw.Write(bytes.Repeat([]byte("x"), int(e.Size)))
		}
	}
	tw.Close()
	dest := filepath.Join(t.TempDir(), "e2e")
	u, err := UnpackResults(&b, dest)
	return dest, u, err
}

// A name that climbs out of the results stops the unpacking: nothing is
// written outside them, and what came after it is not written either.
func TestUnpackResultsRefusesToLeave(t *testing.T) {
	for _, bad := range []string{"e2e-results/../../escaped.txt", "e2e-results/../escaped.txt", "/etc/escaped.txt"} {
		t.Run(bad, func(t *testing.T) {
			dest, u, err := unpack(t, []tar.Header{
				{Name: "e2e-results/", Typeflag: tar.TypeDir, Mode: 0o755},
				{Name: "e2e-results/ok.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2},
				{Name: bad, Typeflag: tar.TypeReg, Mode: 0o644, Size: 2},
				{Name: "e2e-results/after.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2},
			})
			if err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)+", which leaves test-results/e2e") {
				t.Fatalf("err = %v", err)
			}
			for _, p := range []string{filepath.Join(filepath.Dir(dest), "escaped.txt"), filepath.Join(filepath.Dir(filepath.Dir(dest)), "escaped.txt"), filepath.Join(dest, "after.txt")} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
			if u.Files != 1 {
				t.Fatalf("files = %d, want 1", u.Files)
			}
		})
	}
}

// A link is dropped, so a file named through it lands in a real folder of
// the results, never where the link pointed.
func TestUnpackResultsNeverWritesThroughALink(t *testing.T) {
	outside := t.TempDir()
	dest, u, err := unpack(t, []tar.Header{
		{Name: "e2e-results/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "e2e-results/out", Typeflag: tar.TypeSymlink, Linkname: outside},
		{Name: "e2e-results/out/planted.txt", Typeflag: tar.TypeReg, Mode: 0o755, Size: 3},
		{Name: "e2e-results/fifo", Typeflag: tar.TypeFifo},
	})
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Fatalf("wrote through the link: %v", entries)
	}
	info, err := os.Lstat(filepath.Join(dest, "out"))
	if err != nil || !info.IsDir() {
		t.Fatalf("out is %v, %v; want a folder of the results", info, err)
	}
	if info, err := os.Stat(filepath.Join(dest, "out", "planted.txt")); err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("planted.txt: %v, %v", info, err)
	}
	if strings.Join(u.Dropped, ",") != "out,fifo" || u.Files != 1 {
		t.Fatalf("unpacked %+v", u)
	}
}

// WriteProject leaves out installed packages and earlier results, keeps a
// link as a link, and adds the extra files.
func TestWriteProject(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, map[string]string{
		"playwright.config.ts":            "export default {};\n",
		"tests/e2e/a.spec.ts":             "// a\n",
		"tests/node_modules/x/index.js":   "// installed\n",
		"node_modules/@playwright/x.js":   "// installed\n",
		".git/HEAD":                       "ref\n",
		"playwright-report/index.html":    "old\n",
		"e2e-results/junit.xml":           "old\n",
		"tests/test-results/keep.txt":     "a folder of the tests, not the top's\n",
		"playwright.dtx.config.ts":        "// the project's own, replaced\n",
		"scripts/run.sh":                  "#!/bin/sh\n",
		"tests/fixtures/test-results.txt": "fixture\n",
	})
	os.Chmod(filepath.Join(dir, "scripts/run.sh"), 0o755)
	if err := os.Symlink("../../shared/data.json", filepath.Join(dir, "tests", "data.json")); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteProject(&b, dir, map[string][]byte{"playwright.dtx.config.ts": []byte("// wrapper\n")}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&b)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		var body bytes.Buffer
		body.ReadFrom(tr)
		v := body.String()
		if h.Typeflag == tar.TypeSymlink {
			v = "-> " + h.Linkname
		}
		if h.Name == "scripts/run.sh" && h.Mode != 0o755 {
			t.Errorf("run.sh mode %o", h.Mode)
		}
		got[h.Name] = v
	}
	want := map[string]string{
		"playwright.config.ts": "export default {};\n", "tests/": "", "tests/e2e/": "", "tests/e2e/a.spec.ts": "// a\n",
		"tests/test-results/": "", "tests/test-results/keep.txt": "a folder of the tests, not the top's\n",
		"tests/fixtures/": "", "tests/fixtures/test-results.txt": "fixture\n",
		"tests/data.json": "-> ../../shared/data.json", "scripts/": "", "scripts/run.sh": "#!/bin/sh\n",
		"playwright.dtx.config.ts": "// wrapper\n",
	}
	if len(got) != len(want) {
		t.Errorf("entries %v\nwant %v", keys(got), keys(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// The wrapper config, run by Node.js on a config of the website's shape:
// it keeps what the config says and changes only what test:e2e needs (the
// real run is TestBrowser's).
func TestWrapperConfig(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the wrapper is run by TestBrowser (test/e2e) in the runner")
	}
	cases := []struct {
		name, config string
		env          []string
		want         string // the JSON of the config Playwright gets
	}{
		{"the website's shape", `export default {
  testDir: './tests/playwright', retries: 2, outputDir: 'test-results/',
  reporter: [['html', { open: 'always' }], ['list'], ['junit', { outputFile: 'junit.xml', stripANSIControlSequences: true }]],
  use: { baseURL: 'https://localhost', ignoreHTTPSErrors: true, trace: 'on-first-retry' },
  webServer: { command: 'npm run dev' },
  projects: [
    { name: 'chromium', use: { browserName: 'chromium', launchOptions: { executablePath: process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH || undefined, args: ['--no-sandbox'] } } },
    { name: 'plain', use: { viewport: { width: 800, height: 600 } } },
    { name: 'firefox', use: { browserName: 'firefox' } },
    { name: 'branded', use: { channel: 'chrome', baseURL: 'https://staging' }, outputDir: 'other/' },
  ],
};
`, []string{"PLAYWRIGHT_BASE_URL=https://nginx:8443", "PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH=/usr/bin/chromium", "E2E_RESULTS=/e2e/r"},
			`{"testDir":"./tests/playwright","retries":2,"outputDir":"/e2e/r/artifacts",` +
				`"reporter":[["html",{"open":"never","outputFolder":"/e2e/r/report"}],["list",{}],["junit",{"outputFile":"/e2e/r/junit.xml","stripANSIControlSequences":true}]],` +
				`"use":{"baseURL":"https://nginx:8443","ignoreHTTPSErrors":true,"trace":"on-first-retry"},` +
				`"projects":[{"name":"chromium","use":{"browserName":"chromium","launchOptions":{"executablePath":"/usr/bin/chromium","args":["--no-sandbox"]}}},` +
				`{"name":"plain","use":{"viewport":{"width":800,"height":600},"launchOptions":{"executablePath":"/usr/bin/chromium"}}},` +
				`{"name":"firefox","use":{"browserName":"firefox"}},` +
				`{"name":"branded","use":{"channel":"chrome","baseURL":"https://nginx:8443"},"outputDir":"/e2e/r/artifacts"}]}`},
		{"a bare config, sharded", `export default { use: { launchOptions: { slowMo: 10 } }, reporter: 'dot' };
`, []string{"PLAYWRIGHT_BASE_URL=https://nginx:8443", "PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH=/usr/bin/chromium", "E2E_RESULTS=/e2e/r", "E2E_SHARD=1/2"},
			`{"use":{"launchOptions":{"slowMo":10,"executablePath":"/usr/bin/chromium"},"baseURL":"https://nginx:8443"},` +
				`"reporter":[["dot",{}],["html",{"outputFolder":"/e2e/r/report","open":"never"}],["junit",{"outputFile":"/e2e/r/junit.xml"}],["blob",{"outputDir":"/e2e/r/blob-report"}]],` +
				`"outputDir":"/e2e/r/artifacts"}`},
		{"no terminal reporter", `export default { reporter: [['html'], ['json', { outputFile: 'results.json' }]] };
`, []string{"E2E_RESULTS=/e2e/r"},
			`{"reporter":[["list",{}],["html",{"outputFolder":"/e2e/r/report","open":"never"}],["json",{"outputFile":"/e2e/r/report.json"}],["junit",{"outputFile":"/e2e/r/junit.xml"}]],` +
				`"use":{},"outputDir":"/e2e/r/artifacts"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{ConfigFile: "playwright.config.mjs"}
			put(t, dir, map[string]string{
				cfg.ConfigFile:     c.config,
				cfg.WrapperFile():  string(cfg.WrapperConfig()),
				"print.mjs":        "import config from './" + cfg.WrapperFile() + "';\nconsole.log('CONFIG ' + JSON.stringify(config));\n",
				"package.json":     `{"type": "module"}`,
				"tests/a.spec.mjs": "",
			})
			cmd := exec.Command(node, "print.mjs")
			cmd.Dir, cmd.Env = dir, append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var got string
			for _, l := range strings.Split(string(out), "\n") {
				if s, ok := strings.CutPrefix(l, "CONFIG "); ok {
					got = s
				}
			}
			if normalized(t, got) != normalized(t, c.want) {
				t.Errorf("config:\n  %s\nwant:\n  %s", got, c.want)
			}
			if !strings.Contains(string(out), "test:e2e: playwright.config.mjs with ") {
				t.Errorf("the wrapper does not say what it changed:\n%s", out)
			}
		})
	}
}

// normalized is a JSON text with its objects' keys sorted.
func normalized(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
