package swarm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/kettleofketchup/dtx_website/internal/roles"
)

// stackFile is the subset of compose file 3.8 the stack uses, in the order
// it is written.
type stackFile struct {
	Version  string               `yaml:"version"`
	Services map[string]*service  `yaml:"services"`
	Volumes  map[string]*volume   `yaml:"volumes,omitempty"`
	Secrets  map[string]*external `yaml:"secrets,omitempty"`
	Configs  map[string]*external `yaml:"configs,omitempty"`
	Networks map[string]*network  `yaml:"networks,omitempty"`
}

type service struct {
	Image       string            `yaml:"image"`
	Entrypoint  []string          `yaml:"entrypoint,omitempty"`
	Command     []string          `yaml:"command,omitempty"`
	WorkingDir  string            `yaml:"working_dir,omitempty"`
	User        string            `yaml:"user,omitempty"`
	Init        *bool             `yaml:"init,omitempty"`
	Environment map[string]string `yaml:"environment,omitempty"`
	Secrets     []fileRef         `yaml:"secrets,omitempty"`
	Configs     []fileRef         `yaml:"configs,omitempty"`
	ReadOnly    bool              `yaml:"read_only,omitempty"`
	CapAdd      []string          `yaml:"cap_add,omitempty"`
	CapDrop     []string          `yaml:"cap_drop,omitempty"`
	Volumes     []mount           `yaml:"volumes,omitempty"`
	Ports       []port            `yaml:"ports,omitempty"`
	Healthcheck *healthcheck      `yaml:"healthcheck,omitempty"`
	StopGrace   string            `yaml:"stop_grace_period,omitempty"`
	StopSignal  string            `yaml:"stop_signal,omitempty"`
	Logging     *logging          `yaml:"logging,omitempty"`
	Deploy      deploy            `yaml:"deploy"`
}

type fileRef struct {
	Source string `yaml:"source"`
	Target string `yaml:"target"`
	UID    string `yaml:"uid,omitempty"`
	GID    string `yaml:"gid,omitempty"`
	Mode   *octal `yaml:"mode,omitempty"`
}

// octal writes a file mode as YAML's 0o-less octal integer (0400), which
// the 3.8 schema reads as a number.
type octal uint32

func (m octal) MarshalYAML() (interface{}, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprintf("0%o", uint32(m))}, nil
}

type mount struct {
	Type     string `yaml:"type"`
	Source   string `yaml:"source,omitempty"`
	Target   string `yaml:"target"`
	ReadOnly bool   `yaml:"read_only,omitempty"`
}

type port struct {
	Target    uint32 `yaml:"target"`
	Published uint32 `yaml:"published"`
	Protocol  string `yaml:"protocol"`
	Mode      string `yaml:"mode"`
}

type healthcheck struct {
	Disable     bool     `yaml:"disable,omitempty"`
	Test        []string `yaml:"test,omitempty"`
	Interval    string   `yaml:"interval,omitempty"`
	Timeout     string   `yaml:"timeout,omitempty"`
	Retries     *uint64  `yaml:"retries,omitempty"`
	StartPeriod string   `yaml:"start_period,omitempty"`
}

type logging struct {
	Driver  string            `yaml:"driver,omitempty"`
	Options map[string]string `yaml:"options,omitempty"`
}

type deploy struct {
	Mode           string            `yaml:"mode,omitempty"`
	Replicas       *int              `yaml:"replicas,omitempty"`
	EndpointMode   string            `yaml:"endpoint_mode"`
	UpdateConfig   updateConfig      `yaml:"update_config"`
	RollbackConfig updateConfig      `yaml:"rollback_config"`
	RestartPolicy  restartPolicy     `yaml:"restart_policy"`
	Placement      *placement        `yaml:"placement,omitempty"`
	Resources      *resources        `yaml:"resources,omitempty"`
	Labels         map[string]string `yaml:"labels,omitempty"`
}

type updateConfig struct {
	Parallelism     int     `yaml:"parallelism"`
	Delay           string  `yaml:"delay"`
	Order           string  `yaml:"order"`
	FailureAction   string  `yaml:"failure_action"`
	Monitor         string  `yaml:"monitor"`
	MaxFailureRatio float64 `yaml:"max_failure_ratio"`
}

type restartPolicy struct {
	Condition string `yaml:"condition"`
	Delay     string `yaml:"delay"`
}

type placement struct {
	Constraints []string `yaml:"constraints"`
}

type resources struct {
	Limits limits `yaml:"limits"`
}

type limits struct {
	Memory string `yaml:"memory,omitempty"`
}

type volume struct{}

type external struct {
	External bool `yaml:"external"`
}

type network struct {
	Driver string `yaml:"driver"`
}

// update is an update (or rollback) of one task at a time in order, with
// delay between tasks, and onFailure when a task fails within Monitor
// (start-first) or 5 s (stop-first: the service is down meanwhile anyway).
func update(order roles.Update, onFailure string, delay time.Duration) updateConfig {
	monitor := Monitor
	if order == roles.StopFirst {
		monitor = 5 * time.Second
	}
	return updateConfig{Parallelism: 1, Delay: delay.String(), Order: string(order), FailureAction: onFailure, Monitor: monitor.String()}
}

// maxName is the longest name Swarm takes for a secret or config.
const maxName = 64

// objectName is PREFIX_LABEL_HASH, LABEL shortened so that the name fits
// maxName: a secret or config cannot change, so a new value gets a new
// name (HASH, 12 hex digits, says which).
func objectName(prefix, label, hash string) string {
	room := maxName - len(prefix) - len(hash) - 2
	if len(label) > room {
		label = label[:max(room, 0)]
	}
	return prefix + "_" + label + "_" + hash
}

// contentName names a config by its content (a config is not secret): its
// SHA-256.
func contentName(prefix, label string, value []byte) string {
	sum := sha256.Sum256(value)
	return objectName(prefix, label, hex.EncodeToString(sum[:])[:12])
}

func dur(d *types.Duration) string {
	if d == nil {
		return ""
	}
	return time.Duration(*d).String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
