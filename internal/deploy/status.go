package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/backup"
	"github.com/kettleofketchup/dtx_website/internal/lock"
	"github.com/kettleofketchup/dtx_website/internal/roles"
	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// shownDeploys is how many of the last deploys prod:status lists.
const shownDeploys = 5

// Status prints what st, the release stack, runs: the version judged over
// every service on a project image, each service with its role and each of
// its containers' state, health, version and image; a deploy running now
// or one a killed process left unfinished; and the last deploys. Every
// line is masked, then clipped.
func Status(ctx context.Context, st *session.Stack) error {
	site, err := st.Site(ctx)
	if err != nil {
		return err
	}
	running, err := containers(ctx, st)
	if err != nil {
		return err
	}
	show := func(lines []string) {
		for _, l := range lines {
			fmt.Fprintln(st.Stdout, st.Mask(l))
		}
	}
	ids := imageIDs(ctx, st, proxyTags(running, site))
	show(ContainerLines(st.Project.Name, site, running, ids))
	records, damaged, err := Read(filepath.Join(st.Root, stack.DeployLog))
	if err != nil {
		return err
	}
	for _, d := range damaged {
		show([]string{fmt.Sprintf("warning: %s %v", stack.DeployLog, d)})
	}
	holder, held := lock.Holding(st.Root)
	show(ProgressLines(Unfinished(records), holder, held))
	show(DeployLines(records, st.Mask))
	show([]string{backup.LastLine(st.Root)})
	return nil
}

// ContainerLines say which version project runs (RunningVersion), then
// each service of site with its role, and each of its containers with its
// state, health, version and image; a service without a container says so.
func ContainerLines(project string, site roles.Site, running []Container, ids map[string]string) []string {
	version := RunningVersion(running, site, ids)
	lines := []string{fmt.Sprintf("release stack %s: %s", project, OrNone(version))}
	for _, svc := range site.Services {
		var own []Container
		for _, c := range running {
			if c.Service == svc.Name && !c.OneOff() {
				own = append(own, c)
			}
		}
		if len(own) == 0 {
			lines = append(lines, fmt.Sprintf("  %-12s %-8s (no container)", svc.Name, svc.Role))
			continue
		}
		for _, c := range own {
			health := c.Health
			if health == "" {
				health = "-"
			}
			v := "-"
			if svc.Built {
				v = c.Tag()
				if id := ids[AtVersion(c.Image, version)]; v != version && id != "" && c.ImageID() == id {
					v += " (= " + version + ")" // the proxy, kept: the same image
				}
			}
			lines = append(lines, fmt.Sprintf("  %-12s %-8s %-32s %-10s %-10s %-16s %s", svc.Name, svc.Role, c.Name, c.State, health, v, c.Image))
		}
	}
	for _, c := range running {
		if c.OneOff() && c.Label(PreDeployLabel) != "" {
			lines = append(lines, fmt.Sprintf("  a PRE_DEPLOY one-off container is left: %s (%s); the next prod:deploy removes it", c.Name, c.State))
		}
	}
	return lines
}

// ProgressLines say what a deploy in progress is: one running now (the
// lock's live holder), or one whose process is gone (killed with -9, or
// the server restarted), with how to finish or undo it.
func ProgressLines(open []Record, holder lock.Holder, held bool) []string {
	var lines []string
	if held {
		lines = append(lines, fmt.Sprintf("%s is running now (pid %d, since %s)", holder.Command, holder.PID, holder.Since.Local().Format("2006-01-02 15:04:05")))
	}
	for _, r := range open {
		if held && r.PID == holder.PID {
			continue // the running one
		}
		what := fmt.Sprintf("%s of %s over %s, started %s (pid %d)", orDeploy(r.Command), r.Version, OrNone(r.Previous), r.Time.Local().Format("2006-01-02 15:04:05"), r.PID)
		line := fmt.Sprintf("interrupted: the %s did not finish: its process is gone (killed, or the server restarted). ./dtx prod:deploy -version=%s finishes it", what, r.Version)
		if r.Previous != "" && !Mixed(r.Previous) {
			line += fmt.Sprintf("; ./dtx prod:deploy -version=%s undoes it", r.Previous)
		}
		lines = append(lines, line)
	}
	return lines
}

// DeployLines list the last deploys of the history, oldest first, one
// line each (a deploy's in-progress record shows only while nothing closes
// it), with the reason of a failure masked with mask, then clipped to a
// line.
func DeployLines(records []Record, mask func(string) string) []string {
	var shown []Record
	open := Unfinished(records)
	for _, r := range records {
		if r.Outcome != InProgress || containsTime(open, r.Time) {
			shown = append(shown, r)
		}
	}
	if len(shown) == 0 {
		return []string{fmt.Sprintf("no deploy recorded in %s yet", stack.DeployLog)}
	}
	lines := []string{fmt.Sprintf("last deploys (%s):", stack.DeployLog)}
	for _, r := range shown[max(0, len(shown)-shownDeploys):] {
		line := fmt.Sprintf("  %s  %-12s %-11s from %-12s %s", r.Time.Local().Format("2006-01-02 15:04:05"), r.Version, r.Outcome, OrNone(r.Previous), r.Duration)
		if r.Reason != "" {
			line += "  " + stack.Clip(mask(r.Reason))
		}
		lines = append(lines, line)
	}
	return lines
}

func containsTime(records []Record, t time.Time) bool {
	for _, r := range records {
		if r.Time.Equal(t) {
			return true
		}
	}
	return false
}
