package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/testsite"
)

// The bot is the sixth service and image a new user adds to a copy of the
// project, as the website's discord bot: an image of its own, built from
// the repository root (it copies a top-level file) with an additional
// build context (docs), a build argument for its base image, no port, and
// a health check. Only the compose files and the copy's own files say it
// exists: no code of the tool names it.

// addBot gives the site the bot (testsite.AddBot).
func (s *site) addBot(t *testing.T) {
	t.Helper()
	if err := s.ts.AddBot(); err != nil {
		t.Fatal(err)
	}
}

// hasBot says whether addBot gave the site a bot.
func (s *site) hasBot() bool { return s.ts.HasBot() }

// setBotRelease writes what the bot's image of the next build says.
func (s *site) setBotRelease(t *testing.T, text string) {
	t.Helper()
	if err := s.ts.SetBotRelease(text); err != nil {
		t.Fatal(err)
	}
}

// checkBotImage runs the bot's image of tag and checks that it holds both
// contexts' files: the docs page of the additional context, and the
// top-level file as it was when that version was built.
func (s *site) checkBotImage(t *testing.T, tag, release string) {
	t.Helper()
	out := docker(t, "run", "--rm", "--entrypoint", "cat", s.ts.Ref("bot", tag), "/opt/bot/help.md", "/opt/bot/RELEASE")
	docs, err := os.ReadFile(filepath.Join(s.root, "docs/builds.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, strings.TrimSpace(string(docs))) || !strings.HasSuffix(out, release) {
		t.Errorf("bot:%s holds %.80q…%q, want docs/builds.md (context docs) then %q (./%s)", tag, out, out[max(0, len(out)-40):], release, testsite.BotReleaseFile)
	}
}

// registryTags lists the tags the registry holds for one of the site's
// images (the registry's API on 127.0.0.1:5000).
func (s *site) registryTags(t *testing.T, image string) []string {
	t.Helper()
	var list struct{ Tags []string }
	s.registryGet(t, "/"+image+"/tags/list", "", &list)
	slices.Sort(list.Tags)
	return list.Tags
}

// registryGet GETs path under the site's repository in the registry's API
// and decodes the JSON it answers into v.
func (s *site) registryGet(t *testing.T, path, accept string, v any) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+testsite.RegistryHost()+"/v2/"+s.prefix+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("registry: GET %s: %s: %.300s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("registry: GET %s: %v: %.300s", path, err, body)
	}
}

// pushedConfig is the image configuration the registry holds for
// image:tag (through an index to its first platform's manifest).
func (s *site) pushedConfig(t *testing.T, image, tag string) string {
	t.Helper()
	const accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, " +
		"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json"
	var m struct {
		Config    struct{ Digest string }
		Manifests []struct {
			Digest   string
			Platform struct{ OS string }
		}
	}
	s.registryGet(t, "/"+image+"/manifests/"+tag, accept, &m)
	for _, sub := range m.Manifests {
		if sub.Platform.OS != "unknown" { // not an attestation
			s.registryGet(t, "/"+image+"/manifests/"+sub.Digest, accept, &m)
			break
		}
	}
	if m.Config.Digest == "" {
		t.Fatalf("registry: %s:%s has no image configuration", image, tag)
	}
	var config map[string]any
	s.registryGet(t, "/"+image+"/blobs/"+m.Config.Digest, "", &config)
	data, _ := json.Marshal(config)
	return string(data)
}

// checkBotPushPull checks the bot's way through the registry: every version
// and latest pushed, each carrying its build cache (BuildKit's inline
// cache, in the pushed configuration), and docker:pull bringing back a
// version removed from the engine, at the digest pushed.
func (s *site) checkBotPushPull(t *testing.T, base, versions []string) {
	t.Helper()
	tags := s.registryTags(t, "bot")
	for _, want := range append([]string{"latest"}, versions...) {
		if !slices.Contains(tags, want) {
			t.Errorf("the registry has bot tags %v, want %s", tags, want)
		}
	}
	for _, v := range []string{versions[0], "latest"} {
		if config := s.pushedConfig(t, "bot", v); !strings.Contains(config, "moby.buildkit.cache.v0") {
			t.Errorf("bot:%s was pushed without its build cache (no moby.buildkit.cache.v0 in its configuration): %.300s", v, config)
		}
	}
	version := versions[0]
	refs := []string{s.ts.Ref("bot", version), s.ts.Ref("bot", "latest")}
	digests := map[string]string{}
	for _, ref := range refs {
		digests[ref] = repoDigest(t, ref)
	}
	docker(t, append([]string{"rmi"}, refs...)...)
	for _, ref := range refs {
		if _, err := runDocker("image", "inspect", ref); err == nil {
			t.Fatalf("%s still present after rmi", ref)
		}
	}
	out := s.mustMage(append([]string{"VERSION=" + version}, base...), "docker:pull", "-only=bot")
	for ref, want := range digests {
		if got := repoDigest(t, ref); got != want {
			t.Errorf("docker:pull -only=bot: %s has digest %s, pushed %s\n%s", ref, got, want, out)
		}
	}
	t.Logf("bot: tags %v in the registry, inline cache pushed, %s pulled back at its digests", tags, fmt.Sprint(refs))
}
