package swarm

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// The prune: once a deploy has converged, the secrets and configs the tool
// made for the stack that no service uses, nor would use after a rollback,
// are removed, so that old values (an old password, an old private key)
// do not stay on the managers for ever.

// containerSpec is the part of a service's spec the prune reads.
type containerSpec struct {
	Secrets []struct{ SecretName string }
	Configs []struct{ ConfigName string }
}

type serviceSpec struct {
	TaskTemplate struct{ ContainerSpec containerSpec }
}

// Unused decides the prune from `docker service inspect` of the stack's
// services (JSON) and objectsCommand's listing of the secrets or configs
// the tool made for it (ID NAME per line): the names of those that no
// service's spec, nor its previous spec (the target of a rollback),
// references, sorted. An output it cannot read is an error: then nothing
// is removed.
func Unused(inspect, objects string, kind objectKind) ([]string, error) {
	var services []struct {
		Spec         serviceSpec
		PreviousSpec *serviceSpec
	}
	if err := json.Unmarshal([]byte(inspect), &services); err != nil {
		return nil, fmt.Errorf("docker service inspect: %w", err)
	}
	used := map[string]bool{}
	for _, svc := range services {
		specs := []serviceSpec{svc.Spec}
		if svc.PreviousSpec != nil {
			specs = append(specs, *svc.PreviousSpec)
		}
		for _, spec := range specs {
			cs := spec.TaskTemplate.ContainerSpec
			if kind == secretKind {
				for _, s := range cs.Secrets {
					used[s.SecretName] = true
				}
			} else {
				for _, c := range cs.Configs {
					used[c.ConfigName] = true
				}
			}
		}
	}
	var unused []string
	for _, line := range lines(objects) {
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("docker %s ls: unexpected line %q", kind, line)
		}
		if !used[f[1]] {
			unused = append(unused, f[1])
		}
	}
	sort.Strings(unused)
	return unused, nil
}

// prune removes the stack's secrets and configs that Unused finds. It
// never fails the deploy, which has converged: what it could not remove is
// said, and the next deploy tries again.
func (s *Stack) prune(ctx context.Context) error {
	ids, err := s.Query(ctx, s.serviceIDsCommand())
	if err != nil || len(strings.Fields(ids)) == 0 {
		return nil
	}
	inspect, err := s.Query(ctx, servicesInspectCommand(strings.Fields(ids)))
	if err != nil {
		s.Say("note: the old secrets and configs stay: docker service inspect: %v", err)
		return nil
	}
	for _, kind := range []objectKind{secretKind, configKind} {
		objects, err := s.Query(ctx, s.objectsCommand(kind))
		if err != nil {
			s.Say("note: the old %ss stay: %v", kind, err)
			continue
		}
		unused, err := Unused(inspect, objects, kind)
		if err != nil {
			s.Say("note: the old %ss stay: %v", kind, err)
			continue
		}
		if len(unused) == 0 {
			continue
		}
		if err := s.RunQuiet(ctx, removeObjectsCommand(kind, unused)); err != nil {
			s.Say("note: some of the old %ss stay (the next deploy tries again): %v", kind, err)
			continue
		}
		s.Say("%s: removed %d %s%s that no service uses, nor would after a rollback", s.Name, len(unused), kind, plural(len(unused), "", "s"))
	}
	return nil
}
