package launcher

import (
	"fmt"
	"os"
	"syscall"
)

// checkCacheDir refuses a cache folder that someone else could have put a
// binary into: the launcher runs what it finds there. The folder must be
// the user's own and writable by nobody else. (./dtx checks the owner of
// the folder and of the launcher before it runs the launcher; this checks
// the rest before anything in the folder is used.)
func checkCacheDir(cache string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(cache, &st); err != nil {
		return fmt.Errorf("the cache folder %s: %v: run ./dtx, which creates it", cache, err)
	}
	switch {
	case st.Mode&syscall.S_IFMT != syscall.S_IFDIR:
		return fmt.Errorf("the cache folder %s is not a folder: remove it, or set XDG_CACHE_HOME to a folder of your own", cache)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("the cache folder %s belongs to uid %d, not to you (uid %d): remove it, or set XDG_CACHE_HOME to a folder of your own", cache, st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("the cache folder %s can be written by its group or others (mode %04o): chmod go-w %s, or set XDG_CACHE_HOME to a folder of your own", cache, st.Mode&0o7777, cache)
	}
	return nil
}
