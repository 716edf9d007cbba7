// Package docs tests the documents: that their links lead somewhere in the
// repository, that none cites a file outside it, that README.md stays a
// door, and that the README's table of targets, ./dtx -l, ./dtx -h and the
// bash completion all agree with the one list of targets,
// internal/targets.Usages. It needs no Docker engine.
package docs

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/kettleofketchup/dtx_website/internal/targets"
)

var repoRoot, _ = filepath.Abs("../..")

// readmeMaxLines is how long README.md may grow: it is the door, and the
// rest of the documentation lives in docs/, one page a topic.
const readmeMaxLines = 220

// repoFiles are the files git has (tracked, and new ones not ignored): what
// a clone with the change under test holds. A link must lead to one of
// them, or to a folder holding some.
func repoFiles(t *testing.T) map[string]bool {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := map[string]bool{}
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" {
			continue
		}
		if _, err := os.Lstat(filepath.Join(repoRoot, f)); err != nil {
			continue // deleted in the work tree
		}
		files[f] = true
	}
	return files
}

// documents are the Markdown files of the repository: README.md, docs/,
// bench/, .ci/ and any other.
func documents(t *testing.T, files map[string]bool) []string {
	t.Helper()
	var docs []string
	for f := range files {
		if strings.HasSuffix(f, ".md") {
			docs = append(docs, f)
		}
	}
	sort.Strings(docs)
	if len(docs) == 0 {
		t.Fatal("no Markdown file in the repository")
	}
	return docs
}

// document is a Markdown file split into what a reader sees as text (code
// fences blanked out, so that their lines keep their numbers) and its
// headings' anchors.
type document struct {
	name    string   // relative to the repository root, slash-separated
	lines   []string // the file's lines
	prose   []string // the same lines with code blocks blanked
	anchors map[string]bool
}

var fence = regexp.MustCompile("^\\s{0,3}(```|~~~)")

func readDocument(t *testing.T, name string) document {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	d := document{name: name, lines: strings.Split(string(data), "\n"), anchors: map[string]bool{}}
	inFence, marker := false, ""
	seen := map[string]int{}
	for _, line := range d.lines {
		if m := fence.FindStringSubmatch(line); m != nil && (!inFence || m[1] == marker) {
			inFence, marker = !inFence, m[1]
			d.prose = append(d.prose, "")
			continue
		}
		if inFence {
			d.prose = append(d.prose, "")
			continue
		}
		d.prose = append(d.prose, line)
		if text, ok := headingText(line); ok {
			slug := githubSlug(text)
			if n := seen[slug]; n > 0 {
				d.anchors[fmt.Sprintf("%s-%d", slug, n)] = true
			} else {
				d.anchors[slug] = true
			}
			seen[slug]++
		}
	}
	return d
}

var atxHeading = regexp.MustCompile(`^\s{0,3}#{1,6}\s+(.*?)(\s+#+)?\s*$`)

func headingText(line string) (string, bool) {
	m := atxHeading.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1], true
}

var (
	inlineLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	slugDrop   = regexp.MustCompile(`[^\p{L}\p{M}\p{N}\p{Pc} -]`)
)

// githubSlug is the anchor GitHub gives a heading (github-slugger): the
// text as rendered, lower-cased, every character but letters, marks,
// digits, connector punctuation, spaces and hyphens dropped, spaces made
// hyphens. A second heading with the same slug gets "-1", and so on.
func githubSlug(heading string) string {
	text := inlineLink.ReplaceAllString(heading, "$1")
	text = strings.NewReplacer("`", "", "*", "").Replace(text)
	text = strings.ToLower(text)
	text = slugDrop.ReplaceAllString(text, "")
	return strings.ReplaceAll(text, " ", "-")
}

// link is one link of a document, where it is.
type link struct {
	line   int // 1-based
	target string
}

var (
	codeSpan      = regexp.MustCompile("(`+)[^`]*?(`+)")
	linkTarget    = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	referenceLink = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)`)
	scheme        = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
)

// links are the document's links outside code: inline ones and reference
// definitions.
func (d document) links() []link {
	var ls []link
	for i, line := range d.prose {
		text := codeSpan.ReplaceAllString(line, "")
		for _, m := range linkTarget.FindAllStringSubmatch(text, -1) {
			ls = append(ls, link{i + 1, m[1]})
		}
		if m := referenceLink.FindStringSubmatch(text); m != nil {
			ls = append(ls, link{i + 1, m[1]})
		}
	}
	return ls
}

var githubLineAnchor = regexp.MustCompile(`^L\d+(-L\d+)?$`)

// Every relative link of every document leads to a file or folder of the
// repository, and every #anchor to a heading of the document it names.
func TestLinksResolve(t *testing.T) {
	files := repoFiles(t)
	dirs := map[string]bool{}
	for f := range files {
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	docs := map[string]document{}
	for _, name := range documents(t, files) {
		docs[name] = readDocument(t, name)
	}
	checked := 0
	for _, name := range documents(t, files) {
		d := docs[name]
		for _, l := range d.links() {
			if scheme.MatchString(l.target) || strings.HasPrefix(l.target, "//") {
				continue // a web address
			}
			checked++
			where := fmt.Sprintf("%s:%d: link %q", name, l.line, l.target)
			raw, anchor, _ := strings.Cut(l.target, "#")
			p, err := url.PathUnescape(raw)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if strings.HasPrefix(p, "/") {
				t.Errorf("%s: an absolute path; write it relative to %s", where, name)
				continue
			}
			target := name // a bare #anchor is in the document itself
			if p != "" {
				target = path.Clean(path.Join(path.Dir(name), p))
			}
			if target == ".." || strings.HasPrefix(target, "../") {
				t.Errorf("%s: leads outside the repository; no document cites a file outside it", where)
				continue
			}
			if !files[target] && !dirs[target] {
				t.Errorf("%s: %s is not a file of the repository (git ls-files)", where, target)
				continue
			}
			if anchor == "" {
				continue
			}
			if linked, ok := docs[target]; ok {
				if !linked.anchors[anchor] {
					t.Errorf("%s: %s has no heading with the anchor #%s (its anchors: %s)", where, target, anchor, sortedKeys(linked.anchors))
				}
			} else if !githubLineAnchor.MatchString(anchor) {
				t.Errorf("%s: #%s: only Markdown files have heading anchors (a line of another file is #L12)", where, anchor)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d relative links found: the link reader is broken", checked)
	}
}

var (
	absolutePath = regexp.MustCompile(`(?:^|[\s(\x60'"=:,])(/[A-Za-z0-9._~<>-]+(?:/[A-Za-z0-9._~<>-]+)+)`)
	parentPath   = regexp.MustCompile(`(?:^|[\s(\x60'"=])((?:\.\./)+[A-Za-z0-9._~-][A-Za-z0-9._~/-]*)`)
)

// No document cites a file outside the repository, in a link or in its
// text: no path climbs out of it, none names this machine's work folders,
// and none reaches one of its own files through an absolute path (a
// temporary copy's, say). Absolute paths that are instructions
// (`source /tmp/dtx-engine/env.sh`, a checkout on a server) or name a
// container's files (`/run/secrets/KEY`) are fine.
func TestNoCitationOutsideTheRepository(t *testing.T) {
	files := repoFiles(t)
	known := map[string]bool{}
	for f := range files {
		known[f] = true
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			known[d] = true
		}
	}
	for _, name := range documents(t, files) {
		d := readDocument(t, name)
		for i, line := range d.lines { // code included: a citation in a code block is one too
			where := fmt.Sprintf("%s:%d", name, i+1)
			if strings.Contains(line, "/work/") {
				t.Errorf("%s: cites /work/…, a folder of one machine; cite the file in the repository, or say what it says", where)
			}
			for _, m := range absolutePath.FindAllStringSubmatch(line, -1) {
				abs := strings.TrimRight(m[1], ".") // a sentence's full stop
				if isDeployedCheckout(abs) {
					continue
				}
				parts := strings.Split(strings.TrimPrefix(abs, "/"), "/")
				// A tail of two parts or more that is a path of the
				// repository: "/tmp/x/internal/stack/stack.go".
				for k := 1; k+2 <= len(parts); k++ {
					if tail := strings.Join(parts[k:], "/"); known[tail] {
						t.Errorf("%s: %s names the repository's %s through an absolute path; link it relative to %s", where, abs, tail, name)
						break
					}
				}
			}
			for _, m := range parentPath.FindAllStringSubmatch(line, -1) {
				p := path.Clean(path.Join(path.Dir(name), m[1]))
				if p == ".." || strings.HasPrefix(p, "../") {
					t.Errorf("%s: %s leads outside the repository; no document cites a file outside it", where, m[1])
				}
			}
		}
	}
}

// isDeployedCheckout tells a path into a checkout on a server, which a
// document tells an operator to use (`cd /srv/dtx_website && ./dtx …`),
// from a citation.
func isDeployedCheckout(abs string) bool {
	// /app is inside a container: where the debug stack mounts the source.
	for _, prefix := range []string{"/srv/", "/opt/", "/path/to/", "/app/"} {
		if strings.HasPrefix(abs, prefix) {
			return true
		}
	}
	return false
}

// README.md is the door: short, with everything else one link away in
// docs/.
func TestReadmeIsShort(t *testing.T) {
	d := readDocument(t, "README.md")
	n := len(d.lines)
	if d.lines[n-1] == "" {
		n-- // the final newline
	}
	if n > readmeMaxLines {
		t.Fatalf("README.md has %d lines, at most %d: move a topic's details to its page in docs/", n, readmeMaxLines)
	}
}

// Every page of docs/ is listed in docs/README.md and linked from
// README.md, and starts with its title and a paragraph saying what it
// covers.
func TestDocsPages(t *testing.T) {
	files := repoFiles(t)
	linked := func(from string) map[string]bool {
		d := readDocument(t, from)
		to := map[string]bool{}
		for _, l := range d.links() {
			p, _, _ := strings.Cut(l.target, "#")
			if p != "" && !scheme.MatchString(p) {
				to[path.Clean(path.Join(path.Dir(from), p))] = true
			}
		}
		return to
	}
	fromReadme, fromIndex := linked("README.md"), linked("docs/README.md")
	pages := 0
	for _, name := range documents(t, files) {
		if path.Dir(name) != "docs" {
			continue
		}
		pages++
		if !fromReadme[name] {
			t.Errorf("README.md does not link %s: add it under Read more", name)
		}
		if name != "docs/README.md" && !fromIndex[name] {
			t.Errorf("docs/README.md does not list %s", name)
		}
		d := readDocument(t, name)
		if _, ok := headingText(d.lines[0]); !ok || !strings.HasPrefix(d.lines[0], "# ") {
			t.Errorf("%s:1: starts with %q, want its title: # …", name, d.lines[0])
			continue
		}
		first := ""
		for _, line := range d.lines[1:] {
			if strings.TrimSpace(line) != "" {
				first = line
				break
			}
		}
		if first == "" || strings.ContainsAny(first[:1], "#|-*>`0123456789 <") {
			t.Errorf("%s: the title is followed by %q, want a paragraph saying what the page covers", name, first)
		}
	}
	if pages < 2 {
		t.Fatalf("docs/ has %d page(s)", pages)
	}
}

// readmeTarget is a row of the README's table of targets.
type readmeTarget struct {
	line        int
	usage, what string
}

// readmeTargets reads the table under "## Targets" in README.md: the first
// cell is the target's usage in backticks, the second its one line.
func readmeTargets(t *testing.T) []readmeTarget {
	t.Helper()
	d := readDocument(t, "README.md")
	var rows []readmeTarget
	in, inTable := false, false
	for i, line := range d.prose {
		if text, ok := headingText(line); ok {
			in = text == "Targets"
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		cells := tableCells(line)
		if !inTable {
			inTable = true // the header
			if len(cells) < 2 || cells[0] != "target" {
				t.Fatalf("README.md:%d: the table of targets starts with %q, want | target | what it does | …", i+1, line)
			}
			continue
		}
		if strings.Trim(cells[0], "-: ") == "" {
			continue // the delimiter row
		}
		if len(cells) < 2 || !strings.HasPrefix(cells[0], "`") || !strings.HasSuffix(cells[0], "`") {
			t.Fatalf("README.md:%d: %q: want | `target ARGS` | one line | …", i+1, line)
		}
		rows = append(rows, readmeTarget{i + 1, strings.Trim(cells[0], "`"), cells[1]})
	}
	if len(rows) == 0 {
		t.Fatal("README.md has no table of targets under ## Targets")
	}
	return rows
}

// tableCells splits a table row on its unescaped pipes; `\|` is a pipe in
// a cell.
func tableCells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(strings.TrimSuffix(row, "|"), "|")
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cell.WriteByte('|')
			i++
		case row[i] == '|':
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(row[i])
		}
	}
	return append(cells, strings.TrimSpace(cell.String()))
}

// The README's table lists every target of Usages, none else, in Usages'
// order, each with the words it takes (Usage.String).
func TestReadmeListsEveryTarget(t *testing.T) {
	rows := readmeTargets(t)
	var got, want []string
	for _, r := range rows {
		got = append(got, r.usage)
	}
	for _, u := range targets.Usages {
		want = append(want, u.String())
	}
	missing, extra := difference(want, got), difference(got, want)
	for _, u := range missing {
		t.Errorf("README.md's table of targets misses `%s`", u)
	}
	for _, u := range extra {
		t.Errorf("README.md's table of targets lists `%s`, which is no target of internal/targets.Usages (with those words)", u)
	}
	if len(missing) == 0 && len(extra) == 0 {
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("README.md:%d: `%s` comes where internal/targets.Usages has `%s`: keep the table in Usages' order", rows[i].line, got[i], want[i])
				break
			}
		}
	}
}

// difference is what a holds and b does not.
func difference(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var d []string
	for _, s := range a {
		if !in[s] {
			d = append(d, s)
		}
	}
	return d
}

// dtx runs ./dtx, the way in, in a copy of the repository (see copied),
// with the user's launcher cache: it builds the tool only when the Go
// sources changed.
func dtx(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs ./dtx, which builds the tool when the Go sources changed")
	}
	cmd := exec.Command("./dtx", args...)
	cmd.Dir = copied(t)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

var (
	copyOnce sync.Once
	copyDir  string
	copyErr  error
)

// copied is a copy of the files git has, made once for the package's
// tests. ./dtx builds from every Go file of its folder, and other packages'
// tests run `go tool mage` in the repository at the same time, which
// writes magefiles/mage_output_file.go for a moment: the copy leaves it
// out.
func copied(t *testing.T) string {
	t.Helper()
	files := repoFiles(t)
	copyOnce.Do(func() {
		copyDir, copyErr = os.MkdirTemp("", "dtx-docs-")
		if copyErr != nil {
			return
		}
		for f := range files {
			if path.Base(f) == "mage_output_file.go" {
				continue
			}
			src, dst := filepath.Join(repoRoot, filepath.FromSlash(f)), filepath.Join(copyDir, filepath.FromSlash(f))
			fi, err := os.Lstat(src)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			data, err := os.ReadFile(src)
			if err == nil {
				err = os.MkdirAll(filepath.Dir(dst), 0o755)
			}
			if err == nil {
				err = os.WriteFile(dst, data, fi.Mode().Perm())
			}
			if err != nil {
				copyErr = err
				return
			}
		}
	})
	if copyErr != nil {
		t.Fatalf("copying the repository: %v", copyErr)
	}
	return copyDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if copyDir != "" {
		os.RemoveAll(copyDir)
	}
	os.Exit(code)
}

var (
	listingOnce sync.Once
	listing     map[string]string // target: its line in ./dtx -l
	listingErr  error
)

// listed is what ./dtx -l lists: each target and its line.
func listed(t *testing.T) map[string]string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs ./dtx, which builds the tool when the Go sources changed")
	}
	listingOnce.Do(func() {
		out, errOut, err := dtx(t, "-l")
		if err != nil {
			listingErr = fmt.Errorf("./dtx -l: %v\n%s%s", err, out, errOut)
			return
		}
		listing = map[string]string{}
		in := false
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			line := sc.Text()
			if line == "Targets:" {
				in = true
				continue
			}
			if !in || !strings.HasPrefix(line, "  ") {
				continue
			}
			name, what, _ := strings.Cut(strings.TrimSpace(line), " ")
			listing[strings.TrimSuffix(name, "*")] = strings.TrimSpace(what)
		}
		if len(listing) == 0 {
			listingErr = fmt.Errorf("./dtx -l lists no target:\n%s", out)
		}
	})
	if listingErr != nil {
		t.Fatal(listingErr)
	}
	return listing
}

func usageTargets() []string {
	var names []string
	for _, u := range targets.Usages {
		names = append(names, u.Target)
	}
	return names
}

// ./dtx -l lists exactly the targets of Usages.
func TestListMatchesUsages(t *testing.T) {
	l := listed(t)
	var got []string
	for name := range l {
		got = append(got, name)
	}
	for _, name := range difference(usageTargets(), got) {
		t.Errorf("./dtx -l does not list %s, a target of internal/targets.Usages", name)
	}
	for _, name := range difference(got, usageTargets()) {
		t.Errorf("./dtx -l lists %s, which internal/targets.Usages does not have: add it there (and to README.md)", name)
	}
}

// Each line of the README's table is the first sentence of the target's
// doc comment, as ./dtx -l shows it (mage drops the leading name: "Build
// builds…" is "builds…"), with a capital letter.
func TestReadmeLinesAreTheTargetsOwn(t *testing.T) {
	l := listed(t)
	for _, r := range readmeTargets(t) {
		name, _, _ := strings.Cut(r.usage, " ")
		what, ok := l[name]
		if !ok {
			t.Errorf("README.md:%d: %s is not in ./dtx -l", r.line, name)
			continue
		}
		if want := capitalized(what); r.what != want {
			t.Errorf("README.md:%d: %s's line is\n  %s\nbut its doc comment in magefiles/ says (./dtx -l)\n  %s\nchange one of them (\\| for a pipe in the table)", r.line, name, r.what, want)
		}
	}
}

func capitalized(s string) string {
	for i, r := range s {
		return string(unicode.ToUpper(r)) + s[i+len(string(r)):]
	}
	return s
}

var (
	helpPositional = regexp.MustCompile(`<[^>]+>`)
	helpBracketed  = regexp.MustCompile(`\[[^\]]*\]`)
	helpOption     = regexp.MustCompile(`-([A-Za-z0-9_]+)=<`)
)

// ./dtx -h TARGET explains every target of Usages, with the positional
// arguments and options Usages gives it.
func TestHelpMatchesUsages(t *testing.T) {
	for _, u := range targets.Usages {
		out, errOut, err := dtx(t, "-h", u.Target)
		if err != nil {
			t.Errorf("./dtx -h %s: %v\n%s%s", u.Target, err, out, errOut)
			continue
		}
		_, usage, ok := strings.Cut(out, "\nUsage:\n")
		if !ok {
			t.Errorf("./dtx -h %s has no Usage:\n%s", u.Target, out)
			continue
		}
		usage = strings.TrimSpace(usage)
		call, flags, _ := strings.Cut(usage, "\n")
		if !strings.HasPrefix(call, "dtx "+u.Target) {
			t.Errorf("./dtx -h %s: usage %q", u.Target, call)
			continue
		}
		// "dtx stack:exec <env> <service> <command>", "dtx docker:build
		// [-only=<string>]", "dtx prod:deploy [<flags>]": the words in
		// brackets are options.
		positional := len(helpPositional.FindAllString(helpBracketed.ReplaceAllString(call, ""), -1))
		var options []string
		for _, m := range helpOption.FindAllStringSubmatch(call+"\n"+flags, -1) {
			options = append(options, strings.ToLower(m[1]))
		}
		want := append(append([]string{}, u.Options...), u.Switches...)
		sort.Strings(options)
		sort.Strings(want)
		if positional != len(u.Args) || strings.Join(options, ",") != strings.Join(want, ",") {
			t.Errorf("./dtx -h %s says\n  %s\nwith %d argument(s) and the options %v; internal/targets.Usages says %s", u.Target, strings.ReplaceAll(usage, "\n", "\n  "), positional, options, u)
		}
	}
}

// The bash completion of `./dtx ` offers exactly the targets of Usages
// (it reads them from ./dtx -l as it completes).
func TestCompletionOffersEveryTarget(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	script, errOut, err := dtx(t, "-completion", "bash")
	if err != nil {
		t.Fatalf("./dtx -completion bash: %v\n%s", err, errOut)
	}
	cmd := exec.Command("bash", "-c", script+`
COMP_LINE='./dtx ' COMP_POINT=6 _dtx
printf '%s\n' "${COMPREPLY[@]}"`)
	cmd.Dir = copied(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the completion: %v\n%s", err, out)
	}
	offered := strings.Fields(string(out))
	for _, name := range difference(usageTargets(), offered) {
		t.Errorf("the bash completion does not offer %s", name)
	}
	for _, name := range difference(offered, usageTargets()) {
		t.Errorf("the bash completion offers %s, which internal/targets.Usages does not have", name)
	}
}

func sortedKeys(m map[string]bool) string {
	var keys []string
	for k := range m {
		keys = append(keys, "#"+k)
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}
