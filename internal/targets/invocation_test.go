package targets

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Issue 8, finding 10: stray words are refused before any target runs.
func TestCheckInvocation(t *testing.T) {
	for _, c := range []struct {
		name  string
		words string
		want  string // "" when the invocation is fine
	}{
		{"one target", "stack:ps prod", ""},
		{"several targets", "docker:build -only=nginx docker:push -only=nginx stack:up release", ""},
		{"options are optional", "docker:build", ""},
		{"a switch alone, as mage takes it", "version:tag -push", ""},
		{"a switch with a value", "version:tag -push=false", ""},
		{"case-insensitive like mage", "Stack:Exec debug backend ls", ""},
		{"quoted exec command", "stack:exec debug backend|python manage.py migrate", ""},
		{"no target", "", ""},
		{"forgotten quotes", "stack:exec prod backend python manage.py migrate",
			`stack:exec takes the command as one argument, and more words follow it: quote the command, e.g. ./dtx stack:exec prod backend "python …"; nothing was run`},
		{"stray word after down", "stack:down prod now",
			`"now" is not a target, and "stack:down prod" takes 1 argument(s) (usage stack:down ENV): remove it; nothing was run`},
		{"stray word after a later target", "docker:build stack:up prod now", `"now" is not a target`},
		{"missing argument", "docker:build stack:up", "stack:up takes 1 argument(s): stack:up ENV; nothing was run"},
		{"unknown first target", "stack:reboot prod", `unknown target "stack:reboot": nothing was run`},
		{"unknown option", "docker:push -bogus=1", `docker:push does not take the option "-bogus=1": usage docker:push [-only=…]`},
		{"option without a value", "docker:push -only", `does not take the option "-only"`},
		{"option on a target without options", "stack:ps prod -only=x", `stack:ps does not take the option "-only=x"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			// "|" starts the last word, which holds spaces: a quoted command.
			head, quoted, hasQuoted := strings.Cut(c.words, "|")
			words := strings.Fields(head)
			if hasQuoted {
				words = append(words, quoted)
			}
			err := CheckInvocation(words)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error\n  %v\nwant it to contain\n  %s", err, c.want)
			}
		})
	}
}

// Usages matches the magefiles: every target, its positional arguments
// (string parameters) and options (*string parameters), read from the
// source mage compiles.
func TestUsagesMatchMagefiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "magefiles", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no magefiles: %v", err)
	}
	namespaces := map[string]bool{}
	var funcs []*ast.FuncDecl
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					if ts, ok := spec.(*ast.TypeSpec); ok {
						if sel, ok := ts.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Namespace" {
							namespaces[ts.Name.Name] = true
						}
					}
				}
			case *ast.FuncDecl:
				if d.Name.IsExported() {
					funcs = append(funcs, d)
				}
			}
		}
	}
	var got []string
	for _, fn := range funcs {
		name := strings.ToLower(fn.Name.Name)
		if fn.Recv != nil {
			recv := fn.Recv.List[0].Type.(*ast.Ident).Name
			if !namespaces[recv] {
				continue
			}
			name = strings.ToLower(recv) + ":" + name
		}
		u := Usage{Target: name}
		for _, p := range fn.Type.Params.List {
			for _, n := range p.Names {
				switch ty := p.Type.(type) {
				case *ast.Ident:
					if ty.Name == "string" {
						u.Args = append(u.Args, "_")
					}
				case *ast.StarExpr:
					if id, ok := ty.X.(*ast.Ident); ok && id.Name == "bool" {
						u.Switches = append(u.Switches, strings.ToLower(n.Name))
					} else {
						u.Options = append(u.Options, strings.ToLower(n.Name))
					}
				}
			}
		}
		got = append(got, signature(u))
	}
	var want []string
	for _, u := range Usages {
		want = append(want, signature(u))
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("magefiles:\n%s\nUsages:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func signature(u Usage) string {
	return u.Target + " args=" + strings.Repeat("_", len(u.Args)) + " options=" + strings.Join(u.Options, ",") + " switches=" + strings.Join(u.Switches, ",")
}

// Through the real mage: the refusal comes before any target prints or runs
// a thing (a dry run would print its commands).
func TestMageRefusesStrayWordsBeforeRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the magefiles")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	for _, args := range [][]string{
		{"stack:down", "prod", "now"},
		{"stack:exec", "prod", "backend", "python", "manage.py", "migrate"},
		{"stack:ps", "prod", "docker:build", "stack:up"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(goBin, append([]string{"tool", "mage"}, args...)...)
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), "DRY_RUN=1")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("err = %v, want exit status 2; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), "nothing was run") || strings.Contains(string(out), "[dry-run]") {
				t.Fatalf("output:\n%s", out)
			}
		})
	}
}

func TestInForce(t *testing.T) {
	for _, c := range []struct {
		target  string
		environ []string
		want    string
	}{
		{"dev:debug", nil, "In force here (COMPOSE_PROJECT_PREFIX unset): the project dtx-debug."},
		{"dev:debug", []string{"COMPOSE_PROJECT_PREFIX=site2"}, "In force here (COMPOSE_PROJECT_PREFIX=site2): the project site2-debug."},
		{"stack:ps", []string{"COMPOSE_PROJECT_PREFIX=x"}, "In force here (COMPOSE_PROJECT_PREFIX=x): the project x-ENV (debug, test, prod, release)."},
		{"swarm:deploy", nil, "In force here (COMPOSE_PROJECT_PREFIX unset): the Swarm stack dtx."},
		{"prod:deploy", []string{"COMPOSE_PROJECT_PREFIX="}, "In force here (COMPOSE_PROJECT_PREFIX unset): the project dtx-release."},
		{"version:show", nil, ""},
		{"nonsense", nil, ""},
	} {
		if got := InForce(c.target, c.environ); got != c.want {
			t.Errorf("InForce(%s, %v) = %q, want %q", c.target, c.environ, got, c.want)
		}
	}
}
