package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Owner is a folder of the project that a service mounts while it runs as
// a user that is not root: a folder it writes to must belong to that user
// (redis, as the redis user, into backend/.redis_data; see Owners), and so
// must the private keys in a folder it reads them from (nginx; see Readers).
type Owner struct {
	Dir      string // relative to the project root
	UID, GID int
	Service  string
	Image    string // the service's image, which can chown it (see Command)
}

// Owners lists the folders under root that a loaded project's services
// write to as a numeric non-root user ("999:999" or "999"), sorted by folder.
func Owners(project *types.Project, root string) ([]Owner, error) {
	mounts, err := nonRootMounts(project, root)
	if err != nil {
		return nil, err
	}
	var owners []Owner
	for _, m := range mounts {
		if !m.readOnly {
			owners = append(owners, m.Owner)
		}
	}
	return owners, nil
}

// WritableBinds lists the project's folders (relative to root, sorted,
// each once) that a loaded project's services mount writable: the data
// folders the compose files declare (redis's, the backend's SQLite
// folder), made before a stack starts so that docker does not create them
// owned by root. A mount whose source is a file of the project is left
// out; one that does not exist yet counts as a folder, as docker would
// make it.
func WritableBinds(project *types.Project, root string) []string {
	var dirs []string
	for _, name := range project.ServiceNames() {
		for _, v := range project.Services[name].Volumes {
			if v.Type != types.VolumeTypeBind || v.ReadOnly {
				continue
			}
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
				continue // not the project's folder: never touched
			}
			if fi, err := os.Stat(v.Source); err == nil && !fi.IsDir() {
				continue
			}
			if rel = filepath.ToSlash(rel); !slices.Contains(dirs, rel) {
				dirs = append(dirs, rel)
			}
		}
	}
	sort.Strings(dirs)
	return dirs
}

// Readers lists the folders among dirs (relative to root, as
// stack.SSLDir) that a loaded project's services mount, read-only or not,
// while they run as a numeric non-root user, sorted by folder: nginx reads
// its private keys from nginx/data/ssl and certbot's folder, and a key
// (mode 0600) must belong to the user that reads it. Two users reading one
// folder is an error, since a key has one owner.
func Readers(project *types.Project, root string, dirs []string) ([]Owner, error) {
	mounts, err := nonRootMounts(project, root)
	if err != nil {
		return nil, err
	}
	var readers []Owner
	seen := map[string]Owner{}
	for _, m := range mounts {
		if !slices.Contains(dirs, m.Dir) {
			continue
		}
		if o, ok := seen[m.Dir]; ok {
			if o.UID != m.UID {
				return nil, fmt.Errorf("services %s (user %d) and %s (user %d) both read the private keys in %s: a key has one owner, so run them as one user", o.Service, o.UID, m.Service, m.UID, m.Dir)
			}
			continue
		}
		seen[m.Dir] = m.Owner
		readers = append(readers, m.Owner)
	}
	return readers, nil
}

// mount is a bind mount of a project folder into a service that runs as a
// numeric non-root user.
type mount struct {
	Owner
	readOnly bool
}

// nonRootMounts lists the bind mounts of folders under root into services
// that run as a numeric non-root user, sorted by folder, then service.
func nonRootMounts(project *types.Project, root string) ([]mount, error) {
	var mounts []mount
	for _, name := range project.ServiceNames() {
		svc := project.Services[name]
		if svc.User == "" {
			continue
		}
		uid, gid, err := numericUser(svc.User)
		if err != nil {
			return nil, fmt.Errorf("service %s: user %q: %w", name, svc.User, err)
		}
		if uid == 0 {
			continue
		}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
				continue // not the project's folder: never touched
			}
			mounts = append(mounts, mount{Owner{Dir: filepath.ToSlash(rel), UID: uid, GID: gid, Service: name, Image: svc.Image}, v.ReadOnly})
		}
	}
	sort.SliceStable(mounts, func(i, j int) bool { return mounts[i].Dir < mounts[j].Dir })
	return mounts, nil
}

// numericUser reads "UID[:GID]"; a name cannot be resolved on the host.
func numericUser(user string) (uid, gid int, err error) {
	u, g, hasGroup := strings.Cut(user, ":")
	if uid, err = strconv.Atoi(u); err != nil || uid < 0 {
		return 0, 0, fmt.Errorf("use a numeric UID[:GID], so that the tool can give it its folders and keys")
	}
	gid = uid
	if hasGroup {
		if gid, err = strconv.Atoi(g); err != nil || gid < 0 {
			return 0, 0, fmt.Errorf("use a numeric UID[:GID], so that the tool can give it its folders and keys")
		}
	}
	return uid, gid, nil
}

// String is "UID:GID DIR", as chown would be given it.
func (o Owner) String() string { return fmt.Sprintf("%d:%d %s", o.UID, o.GID, o.Dir) }
