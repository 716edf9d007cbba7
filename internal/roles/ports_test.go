package roles

import (
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestTLSPort(t *testing.T) {
	ports := func(specs ...string) []types.ServicePortConfig {
		var out []types.ServicePortConfig
		for _, s := range specs {
			p, err := types.ParsePortConfig(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name      string
		ports     []types.ServicePortConfig
		httpsPort string
		want      uint32
	}{
		{"the starter's unprivileged nginx, HTTPS_PORT set", ports("127.0.0.1:18080:8080", "127.0.0.1:18443:8443"), "18443", 8443},
		{"HTTPS_PORT unset: the target ending in 443", ports("127.0.0.1:8080:8080", "127.0.0.1:8443:8443"), "", 8443},
		{"HTTPS_PORT names the mapping, whatever its target", ports("80:8000", "443:9000"), "443", 9000},
		{"HTTPS_PORT published nowhere: the target ending in 443", ports("80:80", "4430:443"), "8443", 443},
		{"a privileged proxy", ports("80:80", "443:443"), "", 443},
		{"a UDP mapping is not HTTPS", ports("8443:9443/udp", "8444:8443"), "8443", 8443},
		{"nothing that looks like HTTPS", ports("8080:8080"), "", 443},
		{"no ports", nil, "443", 443},
	}
	for _, c := range cases {
		if got := TLSPort(c.ports, c.httpsPort); got != c.want {
			t.Errorf("%s: TLSPort = %d, want %d", c.name, got, c.want)
		}
	}
}
