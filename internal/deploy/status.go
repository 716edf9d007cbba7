package deploy

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// shownDeploys is how many of the last deploys prod:status lists.
const shownDeploys = 5

// Status prints the version and health of each service of st, the release
// stack, and the last deploys.
func Status(ctx context.Context, st *session.Stack) error {
	running, err := containers(ctx, st)
	if err != nil {
		return err
	}
	show := func(lines []string) {
		for _, l := range lines {
			fmt.Fprintln(st.Stdout, st.Mask(l))
		}
	}
	show(ContainerLines(st.Project.Name, running))
	records, err := Read(filepath.Join(st.Root, stack.DeployLog))
	if err != nil {
		return err
	}
	show(DeployLines(records))
	return nil
}

// ContainerLines say which version project runs, then each container's
// service, name, state, health and image.
func ContainerLines(project string, running []Container) []string {
	lines := []string{fmt.Sprintf("release stack %s: %s", project, OrNone(RunningVersion(running)))}
	for _, c := range running {
		health := c.Health
		if health == "" {
			health = "-"
		}
		lines = append(lines, fmt.Sprintf("  %-9s %-28s %-8s %-10s %s", c.Service, c.Name, c.State, health, c.Image))
	}
	return lines
}

// DeployLines list the last deploys of the history, oldest first, with
// the reason of a failure clipped to a line.
func DeployLines(records []Record) []string {
	if len(records) == 0 {
		return []string{fmt.Sprintf("no deploy recorded in %s yet", stack.DeployLog)}
	}
	lines := []string{fmt.Sprintf("last deploys (%s):", stack.DeployLog)}
	for _, r := range records[max(0, len(records)-shownDeploys):] {
		line := fmt.Sprintf("  %s  %-12s %-11s from %-12s %s", r.Time.Local().Format("2006-01-02 15:04:05"), r.Version, r.Outcome, OrNone(r.Previous), r.Duration)
		if r.Reason != "" {
			line += "  " + stack.Clip(r.Reason)
		}
		lines = append(lines, line)
	}
	return lines
}
