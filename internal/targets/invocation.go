package targets

import (
	"fmt"
	"strings"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Usage is what a mage target takes on the command line: its positional
// arguments (named for messages), its -name=value options and its switches
// (boolean options, which mage also takes bare: -push).
type Usage struct {
	Target   string   // as mage names it, lower case: "stack:exec"
	Args     []string // "ENV", "SERVICE", `"CMD"`
	Options  []string // "only"
	Switches []string // "push"
	// Acts names the compose project the target acts on: an environment,
	// "ENV" (its first argument), "swarm" (the Swarm stack) or "" (none).
	Acts string
}

// Usages is the list of targets, written once: the magefiles' signatures
// (TestUsagesMatchMagefiles), ./dtx -l and -h, the shell completion and the
// README's table of targets (test/docs) are all checked against it. A
// target's one line is the first sentence of its doc comment in magefiles/,
// which -l shows and the README repeats.
var Usages = []Usage{
	{Target: "check"},
	{Target: "docker:build", Options: []string{"only"}},
	{Target: "docker:push", Options: []string{"only"}},
	{Target: "docker:pull", Options: []string{"only"}},
	{Target: "dev:debug", Acts: "debug"},
	{Target: "dev:test", Acts: "test"},
	{Target: "dev:prod", Acts: "prod"},
	{Target: "dev:release", Acts: "release"},
	{Target: "stack:up", Args: []string{"ENV"}, Acts: "ENV"},
	{Target: "stack:down", Args: []string{"ENV"}, Acts: "ENV"},
	{Target: "stack:logs", Args: []string{"ENV"}, Acts: "ENV"},
	{Target: "stack:ps", Args: []string{"ENV"}, Acts: "ENV"},
	{Target: "stack:exec", Args: []string{"ENV", "SERVICE", `"CMD"`}, Acts: "ENV"},
	{Target: "stack:run", Args: []string{"ENV", "SERVICE", `"CMD"`}, Acts: "ENV"},
	{Target: "stack:restart", Args: []string{"ENV"}, Options: []string{"service"}, Acts: "ENV"},
	{Target: "stack:stop", Args: []string{"ENV"}, Options: []string{"service"}, Acts: "ENV"},
	{Target: "stack:pull", Args: []string{"ENV"}, Acts: "ENV"},
	{Target: "stack:build", Args: []string{"ENV"}, Acts: "ENV"},
	{Target: "stack:top", Args: []string{"ENV"}, Acts: "ENV"},
	{Target: "prod:certbot", Acts: "prod"},
	{Target: "prod:renew", Acts: "prod"},
	{Target: "prod:deploy", Options: []string{"version", "wait"}, Acts: "release"},
	{Target: "prod:status", Acts: "release"},
	{Target: "prod:rollback", Options: []string{"wait"}, Switches: []string{"data", "force"}, Acts: "release"},
	{Target: "prod:backup", Acts: "release"},
	{Target: "prod:restore", Options: []string{"name"}, Switches: []string{"force"}, Acts: "release"},
	{Target: "prod:backups", Acts: "release"},
	{Target: "version:show"},
	{Target: "version:set", Args: []string{"X.Y.Z"}},
	{Target: "version:bump", Args: []string{"PART"}},
	{Target: "version:tag", Switches: []string{"push"}},
	{Target: "test:e2e", Options: []string{"shard", "grep", "spec"}, Acts: "test"},
	{Target: "swarm:deploy", Acts: "swarm"},
	{Target: "swarm:ps", Acts: "swarm"},
	{Target: "swarm:rollback", Acts: "swarm"},
	{Target: "swarm:rm", Acts: "swarm"},
	{Target: "swarm:setup"},
	{Target: "swarm:nodes"},
	{Target: "swarm:drain", Args: []string{"NODE"}, Switches: []string{"force"}, Acts: "swarm"},
	{Target: "swarm:activate", Args: []string{"NODE"}, Acts: "swarm"},
}

// InForce says, for -h, which project a target acts on with the process
// environment's COMPOSE_PROJECT_PREFIX; "" for a target that acts on none.
func InForce(target string, environ []string) string {
	u, ok := lookupUsage(target)
	if !ok || u.Acts == "" {
		return ""
	}
	prefix, set := "", false
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == "COMPOSE_PROJECT_PREFIX" {
			prefix, set = v, v != ""
		}
	}
	how := "COMPOSE_PROJECT_PREFIX=" + prefix
	if !set {
		prefix, how = stack.DefaultPrefix, "COMPOSE_PROJECT_PREFIX unset"
	}
	switch u.Acts {
	case "swarm":
		return fmt.Sprintf("In force here (%s): the Swarm stack %s.", how, prefix)
	case "ENV":
		return fmt.Sprintf("In force here (%s): the project %s-ENV (%s).", how, prefix, strings.Join(stack.EnvironmentNames(), ", "))
	}
	return fmt.Sprintf("In force here (%s): the project %s-%s.", how, prefix, u.Acts)
}

func (u Usage) String() string {
	s := u.Target
	for _, a := range u.Args {
		s += " " + a
	}
	for _, o := range u.Options {
		s += " [-" + o + "=…]"
	}
	for _, o := range u.Switches {
		s += " [-" + o + "]"
	}
	return s
}

func lookupUsage(word string) (Usage, bool) {
	for _, u := range Usages {
		if strings.EqualFold(u.Target, word) {
			return u, true
		}
	}
	return Usage{}, false
}

// CheckInvocation checks the words given to the compiled mage binary (the
// targets, each followed by its arguments and options) before any target
// runs. Mage itself runs the targets in order and finds a stray word only
// when it reaches it: `stack:down prod now` has already brought the stack
// down when it says "Unknown target specified: now".
func CheckInvocation(words []string) error {
	for i := 0; i < len(words); {
		word := words[i]
		u, ok := lookupUsage(word)
		if !ok {
			if i == 0 {
				return fmt.Errorf("unknown target %s: nothing was run; list the targets with './dtx -l'", session.Shown(word))
			}
			return strayWord(words, i)
		}
		i++
		if len(words)-i < len(u.Args) {
			return fmt.Errorf("%s takes %d argument(s): %s; nothing was run", u.Target, len(u.Args), u)
		}
		i += len(u.Args)
		for i < len(words) && strings.HasPrefix(words[i], "-") {
			name, _, hasValue := strings.Cut(strings.TrimPrefix(words[i], "-"), "=")
			if !hasOption(u.Switches, name) && (!hasValue || !hasOption(u.Options, name)) {
				return fmt.Errorf("%s does not take the option %s: usage %s; nothing was run", u.Target, session.Shown(words[i]), u)
			}
			i++
		}
	}
	return nil
}

func hasOption(options []string, name string) bool {
	for _, o := range options {
		if strings.EqualFold(o, name) {
			return true
		}
	}
	return false
}

// strayWord explains words[i], which follows a complete target but is none.
func strayWord(words []string, i int) error {
	owner := 0 // the target the word follows
	for k := i - 1; k >= 0; k-- {
		if _, ok := lookupUsage(words[k]); ok {
			owner = k
			break
		}
	}
	u, _ := lookupUsage(words[owner])
	given := strings.Join(words[owner:i], " ")
	if u.Target == "stack:exec" {
		// The command was not quoted. The hint does not repeat it (it may
		// hold a password), only its first word.
		return fmt.Errorf("stack:exec takes the command as one argument, and more words follow it: quote the command, e.g. ./dtx %s \"%s …\"; nothing was run",
			strings.Join(words[owner:i-1], " "), firstField(words[i-1]))
	}
	return fmt.Errorf("%s is not a target, and %s takes %d argument(s) (usage %s): remove it; nothing was run", session.Shown(words[i]), session.Shown(given), len(u.Args), u)
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "CMD"
}
