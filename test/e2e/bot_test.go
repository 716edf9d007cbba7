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

// botDockerfile is bot/Dockerfile in the copy. COPY --from=docs needs a
// builder that takes additional build contexts (Docker 20.10's refuses).
const botDockerfile = `ARG BOT_BASE_IMAGE=python:3.12-alpine
FROM ${BOT_BASE_IMAGE}
# From the additional build context docs (./docs): what the bot answers.
COPY --from=docs builds.md /opt/bot/help.md
# A top-level file: the build's context is the repository root.
COPY RELEASE /opt/bot/RELEASE
COPY bot/bot.py /opt/bot/bot.py
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
HEALTHCHECK --interval=1s --timeout=30s --start-period=60s --retries=3 \
  CMD ["python3", "/opt/bot/bot.py", "--healthcheck"]
CMD ["python3", "/opt/bot/bot.py"]
`

// botScript is bot/bot.py: a heartbeat in /tmp, healthy while it is fresh
// and the files of both contexts are in the image.
const botScript = `import os, pathlib, signal, sys, time
if sys.argv[1:] == ["--healthcheck"]:
    stale = time.time() - os.stat("/tmp/alive").st_mtime > 5
    sys.exit(stale or not open("/opt/bot/help.md").read() or not open("/opt/bot/RELEASE").read())
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("bot", open("/opt/bot/RELEASE").read().strip(), flush=True)
while True:
    pathlib.Path("/tmp/alive").touch()
    time.sleep(1)
`

// botBuild is the bot's service in docker-compose.prod.yaml, where the
// production images are declared: its build section.
const botBuild = `
  bot:
    image: ${REGISTRY:-ghcr.io/kettleofketchup/dtx_website}/bot:latest
    build:
      context: .
      dockerfile: bot/Dockerfile
      additional_contexts:
        docs: ./docs
      args:
        BOT_BASE_IMAGE: ${BACKEND_BASE_IMAGE:-python:3.12-alpine}
    <<: [*app, *hardened]
    mem_limit: 64m
`

// botRelease is the bot's service in docker-compose.release.yaml: its
// image at the release's version, no build section (as the starters').
const botRelease = `
  bot:
    image: "${REGISTRY:-ghcr.io/kettleofketchup/dtx_website}/bot:${VERSION:?VERSION is not set}"
    <<: [*app, *hardened]
    mem_limit: 64m
`

// botReleaseFile is the top-level file the bot's image copies; the tests
// write into it what each release says.
const botReleaseFile = "RELEASE"

// addBot writes the bot's files into the site and declares it in the
// prod and release compose files.
func (s *site) addBot(t *testing.T) {
	t.Helper()
	files := map[string]string{"bot/Dockerfile": botDockerfile, "bot/bot.py": botScript, botReleaseFile: "no release yet\n"}
	for name, text := range files {
		path := filepath.Join(s.root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for file, service := range map[string]string{"docker-compose.prod.yaml": botBuild, "docker-compose.release.yaml": botRelease} {
		path := filepath.Join(s.root, file)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "\nservices:\n") || !strings.Contains(string(data), "&hardened") {
			t.Fatalf("%s has no services: or x-hardened anchor: update the test", file)
		}
		if err := os.WriteFile(path, append(data, []byte(service)...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// hasBot says whether addBot gave the site a bot.
func (s *site) hasBot() bool {
	_, err := os.Stat(filepath.Join(s.root, "bot/Dockerfile"))
	return err == nil
}

// setBotRelease writes what the bot's image of the next build says.
func (s *site) setBotRelease(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.root, botReleaseFile), []byte(text+"\n"), 0o644); err != nil {
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
		t.Errorf("bot:%s holds %.80q…%q, want docs/builds.md (context docs) then %q (./%s)", tag, out, out[max(0, len(out)-40):], release, botReleaseFile)
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
