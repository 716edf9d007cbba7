package backup

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/session"
)

// DefaultKeep is how many backups are kept unless BACKUP_KEEP says
// otherwise.
const DefaultKeep = 10

// DefaultWait is how long a restore waits for the services it started to
// be healthy.
const DefaultWait = 2 * time.Minute

// The ways an SQLite file is taken (BACKUP_SQLITE).
const (
	SQLiteOnline = "online" // SQLite's online backup, in a container of a writer (the default)
	SQLitePause  = "pause"  // the writers paused while the files are copied
)

// settings are the variables the backups read, from the stack's env files
// and the process, checked before anything runs.
type settings struct {
	keep   int
	to     *Destination // BACKUP_TO; nil when unset
	sqlite string
	wait   time.Duration
	// beforeDeploy: prod:deploy and prod:rollback take a backup before
	// they change anything (BACKUP_BEFORE_DEPLOY, on by default).
	beforeDeploy bool
}

// BeforeDeployVar turns off the backup a deploy takes before it changes
// anything (BACKUP_BEFORE_DEPLOY=0).
const BeforeDeployVar = "BACKUP_BEFORE_DEPLOY"

// BeforeDeploy checks the backups' variables and says whether a deploy
// takes a backup before it changes anything (BACKUP_BEFORE_DEPLOY: 1, the
// default, or 0). A deploy calls it before its first step, so that a bad
// value stops it with nothing done.
func BeforeDeploy(st *session.Stack) (bool, error) {
	s, err := readSettings(st)
	return s.beforeDeploy, err
}

func readSettings(st *session.Stack) (settings, error) {
	s := settings{keep: DefaultKeep, sqlite: SQLiteOnline, wait: DefaultWait, beforeDeploy: true}
	switch v, _ := st.Env.Get(BeforeDeployVar); strings.ToLower(strings.TrimSpace(v)) {
	case "", "1", "true", "yes":
	case "0", "false", "no":
		s.beforeDeploy = false
	default:
		return s, fmt.Errorf("%s: use 1 (a backup before each deploy, the default) or 0 (none)", st.Label(BeforeDeployVar))
	}
	if v, _ := st.Env.Get("BACKUP_KEEP"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return s, fmt.Errorf("%s: use how many backups to keep, a number from 1 to 1000", st.Label("BACKUP_KEEP"))
		}
		s.keep = n
	}
	switch v, _ := st.Env.Get("BACKUP_SQLITE"); v {
	case "", SQLiteOnline:
	case SQLitePause:
		s.sqlite = SQLitePause
	default:
		return s, fmt.Errorf("%s: use %s (SQLite's online backup, the default) or %s (the writers paused while the file is copied)", st.Label("BACKUP_SQLITE"), SQLiteOnline, SQLitePause)
	}
	if v, _ := st.Env.Get("BACKUP_TO"); v != "" {
		// A password there is refused below, and never printed.
		if u, err := url.Parse(v); err == nil {
			if pw, has := u.User.Password(); has && pw != "" {
				st.AddSecrets(pw)
			}
		}
		d, err := ParseDestination(v, st.Root)
		if err != nil {
			return s, fmt.Errorf("%s: %w", st.Label("BACKUP_TO"), err)
		}
		s.to = &d
	}
	return s, nil
}

// Destination is where BACKUP_TO sends a copy of each backup: a folder of
// this machine, or a folder of another one reached with ssh.
type Destination struct {
	Folder string // absolute: the folder, here or on Host
	// Host, User and Port are the ssh destination's; Host is "" for a
	// folder of this machine.
	Host, User, Port string
}

// safeRemote are the characters a remote folder, host and user may hold:
// ssh hands the remote command to the remote user's shell as one string,
// so no value may hold a character that shell would read.
var (
	safeRemotePath = `^/[A-Za-z0-9._/+-]*$`
	safeHost       = `^[A-Za-z0-9][A-Za-z0-9.-]*$`
	safeUser       = `^[A-Za-z0-9_][A-Za-z0-9._-]*$`
)

// matches compiles pattern on use: BACKUP_TO is read by few calls.
func matches(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// ParseDestination reads BACKUP_TO: an absolute folder, or
// ssh://[USER@]HOST[:PORT]/ABSOLUTE/FOLDER. A folder inside the project's
// backups is refused: a copy must live elsewhere.
func ParseDestination(v, root string) (Destination, error) {
	if rest, ok := strings.CutPrefix(v, "ssh://"); ok {
		u, err := url.Parse("ssh://" + rest)
		if err != nil || u.Host == "" || u.Path == "" {
			return Destination{}, fmt.Errorf("use ssh://[USER@]HOST[:PORT]/ABSOLUTE/FOLDER")
		}
		d := Destination{Folder: filepath.Clean(u.Path), Host: u.Hostname(), Port: u.Port(), User: u.User.Username()}
		if _, has := u.User.Password(); has {
			return Destination{}, fmt.Errorf("it holds a password: ssh takes none there; use a key (ssh-copy-id) and ssh://USER@HOST/FOLDER")
		}
		switch {
		case u.RawQuery != "" || u.Fragment != "":
			return d, fmt.Errorf("use ssh://[USER@]HOST[:PORT]/ABSOLUTE/FOLDER, without ? or #")
		case !matches(safeHost, d.Host):
			return d, fmt.Errorf("the host %q is not a host name or IPv4 address", clip(d.Host))
		case d.User != "" && !matches(safeUser, d.User):
			return d, fmt.Errorf("the user %q: use letters, digits, '.', '_' and '-'", clip(d.User))
		case !matches(safeRemotePath, d.Folder) || d.Folder == "/" || strings.Contains(u.Path, ".."):
			return d, fmt.Errorf("the remote folder %q: use an absolute path of letters, digits, '.', '_', '+', '-' and '/'", clip(d.Folder))
		}
		if d.Port != "" {
			if n, err := strconv.Atoi(d.Port); err != nil || n < 1 || n > 65535 {
				return d, fmt.Errorf("the port %q: use 1 to 65535", clip(d.Port))
			}
		}
		return d, nil
	}
	if strings.Contains(v, "://") {
		return Destination{}, fmt.Errorf("use an absolute folder, or ssh://[USER@]HOST[:PORT]/ABSOLUTE/FOLDER")
	}
	if !filepath.IsAbs(v) {
		return Destination{}, fmt.Errorf("use an absolute folder (on another disk, say), or ssh://[USER@]HOST[:PORT]/ABSOLUTE/FOLDER")
	}
	d := Destination{Folder: filepath.Clean(v)}
	backups := filepath.Join(root, Dir)
	if rel, err := filepath.Rel(backups, d.Folder); err == nil && filepath.IsLocal(rel) || d.Folder == backups {
		return d, fmt.Errorf("it is inside %s: a copy must live elsewhere (another disk, or another machine)", Dir)
	}
	return d, nil
}

// String is the destination as BACKUP_TO says it.
func (d Destination) String() string {
	if d.Host == "" {
		return d.Folder
	}
	s := "ssh://"
	if d.User != "" {
		s += d.User + "@"
	}
	s += d.Host
	if d.Port != "" {
		s += ":" + d.Port
	}
	return s + d.Folder
}
