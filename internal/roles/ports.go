package roles

import (
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// DefaultTLSPort is the port a proxy serves HTTPS on when its compose ports
// say nothing better.
const DefaultTLSPort uint32 = 443

// TLSPort is the port the proxy serves HTTPS on inside its container, read
// from its compose ports: the target of the mapping published on httpsPort
// (HTTPS_PORT's value, which the compose file publishes), else the first
// target ending in 443 (443, 8443: an unprivileged proxy's), else 443. A
// container on the stack's network reaches the proxy there, not on the
// host's published port.
func TLSPort(ports []types.ServicePortConfig, httpsPort string) uint32 {
	if httpsPort = strings.TrimSpace(httpsPort); httpsPort != "" {
		for _, p := range ports {
			if p.Published == httpsPort && isTCP(p) && p.Target != 0 {
				return p.Target
			}
		}
	}
	for _, p := range ports {
		if isTCP(p) && p.Target != 0 && strings.HasSuffix(strconv.FormatUint(uint64(p.Target), 10), "443") {
			return p.Target
		}
	}
	return DefaultTLSPort
}

func isTCP(p types.ServicePortConfig) bool { return p.Protocol == "" || p.Protocol == "tcp" }
