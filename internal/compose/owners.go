package compose

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Owner is a folder of the project that a service writes to through a bind
// mount while it runs as a user that is not root: the folder must belong to
// that user, or the service cannot write (redis, as the redis user, into
// backend/.redis_data).
type Owner struct {
	Dir      string // relative to the project root
	UID, GID int
	Service  string
	Image    string // the service's image, which can chown it (see Command)
}

// Owners lists the folders under root that a loaded project's services
// write to as a numeric non-root user ("999:999" or "999"), sorted by folder.
func Owners(project *types.Project, root string) ([]Owner, error) {
	var owners []Owner
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
			if v.Type != types.VolumeTypeBind || v.ReadOnly {
				continue
			}
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
				continue // not the project's folder: never touched
			}
			owners = append(owners, Owner{Dir: filepath.ToSlash(rel), UID: uid, GID: gid, Service: name, Image: svc.Image})
		}
	}
	sort.Slice(owners, func(i, j int) bool { return owners[i].Dir < owners[j].Dir })
	return owners, nil
}

// numericUser reads "UID[:GID]"; a name cannot be resolved on the host.
func numericUser(user string) (uid, gid int, err error) {
	u, g, hasGroup := strings.Cut(user, ":")
	if uid, err = strconv.Atoi(u); err != nil || uid < 0 {
		return 0, 0, fmt.Errorf("use a numeric UID[:GID], so that the tool can give it its data folder")
	}
	gid = uid
	if hasGroup {
		if gid, err = strconv.Atoi(g); err != nil || gid < 0 {
			return 0, 0, fmt.Errorf("use a numeric UID[:GID], so that the tool can give it its data folder")
		}
	}
	return uid, gid, nil
}

// String is "UID:GID DIR", as chown would be given it.
func (o Owner) String() string { return fmt.Sprintf("%d:%d %s", o.UID, o.GID, o.Dir) }
