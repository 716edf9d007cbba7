package testsite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The services the website's own repository runs beside the starters'
// (a celery worker and beat on the backend image, a bot on an image of
// its own built from the repository root with a second build context),
// added to a site by the end-to-end suites and the benchmark with compose
// lines and files alone: no code of the tool names them.

// Workers are two services a new user adds to the release compose file on
// the backend image, without touching the tool: worker (start-first, the
// default of a worker) and beat (a scheduler: stop-first). Each writes a
// heartbeat and is healthy while it is fresh; worker's health check also
// fails in the image of build "three", beat's in the image of build
// "four", which is how a release breaks one of them.
const Workers = `
  worker:
    image: "${REGISTRY:-ghcr.io/kettleofketchup/dtx_website}/backend:${VERSION:?VERSION is not set}"
    <<: [*app, *hardened]
    mem_limit: 128m
    command: &heartbeat ["python3", "-c", "import pathlib, signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\nwhile True:\n    pathlib.Path('/tmp/alive').touch()\n    time.sleep(1)\n"]
    healthcheck:
      test: ["CMD", "python3", "-c", "import os, sys, time; sys.exit(time.time() - os.stat('/tmp/alive').st_mtime > 5 or 'build three;' in open('/opt/backend/server.py').read())"]
      interval: 1s
      timeout: 30s
      retries: 3
  beat:
    image: "${REGISTRY:-ghcr.io/kettleofketchup/dtx_website}/backend:${VERSION:?VERSION is not set}"
    <<: [*app, *hardened]
    mem_limit: 128m
    command: *heartbeat
    healthcheck:
      test: ["CMD", "python3", "-c", "import os, sys, time; sys.exit(time.time() - os.stat('/tmp/alive').st_mtime > 5 or 'build four;' in open('/opt/backend/server.py').read())"]
      interval: 1s
      timeout: 30s
      retries: 3
    x-dtx:
      update: stop-first
`

// BotDockerfile is bot/Dockerfile in the copy. COPY --from=docs needs a
// builder that takes additional build contexts (Docker 20.10's refuses).
const BotDockerfile = `ARG BOT_BASE_IMAGE=python:3.12-alpine
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

// BotScript is bot/bot.py: a heartbeat in /tmp, healthy while it is fresh
// and the files of both contexts are in the image.
const BotScript = `import os, pathlib, signal, sys, time
if sys.argv[1:] == ["--healthcheck"]:
    stale = time.time() - os.stat("/tmp/alive").st_mtime > 5
    sys.exit(stale or not open("/opt/bot/help.md").read() or not open("/opt/bot/RELEASE").read())
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("bot", open("/opt/bot/RELEASE").read().strip(), flush=True)
while True:
    pathlib.Path("/tmp/alive").touch()
    time.sleep(1)
`

// BotBuild is the bot's service in docker-compose.prod.yaml, where the
// production images are declared: its build section.
const BotBuild = `
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

// BotRelease is the bot's service in docker-compose.release.yaml: its
// image at the release's version, no build section (as the starters').
const BotRelease = `
  bot:
    image: "${REGISTRY:-ghcr.io/kettleofketchup/dtx_website}/bot:${VERSION:?VERSION is not set}"
    <<: [*app, *hardened]
    mem_limit: 64m
`

// BotReleaseFile is the top-level file the bot's image copies; the tests
// write into it what each release says.
const BotReleaseFile = "RELEASE"

// AddWorkers appends Workers to the site's release compose file.
func (s *Site) AddWorkers() error {
	return appendService(filepath.Join(s.Root, "docker-compose.release.yaml"), Workers)
}

// AddBot writes the bot's files into the site and declares it in the
// prod compose file (its build) and the release one (its version).
func (s *Site) AddBot() error {
	files := map[string]string{"bot/Dockerfile": BotDockerfile, "bot/bot.py": BotScript, BotReleaseFile: "no release yet\n"}
	for name, text := range files {
		path := filepath.Join(s.Root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return err
		}
	}
	for file, service := range map[string]string{"docker-compose.prod.yaml": BotBuild, "docker-compose.release.yaml": BotRelease} {
		if err := appendService(filepath.Join(s.Root, file), service); err != nil {
			return err
		}
	}
	return nil
}

// HasBot says whether AddBot gave the site a bot.
func (s *Site) HasBot() bool {
	_, err := os.Stat(filepath.Join(s.Root, "bot/Dockerfile"))
	return err == nil
}

// SetBotRelease writes what the bot's image of the next build says.
func (s *Site) SetBotRelease(text string) error {
	return os.WriteFile(filepath.Join(s.Root, BotReleaseFile), []byte(text+"\n"), 0o644)
}

// appendService appends a service's lines to a compose file whose
// services: come last and that has the starters' anchors.
func appendService(path, service string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), "\nservices:\n") || !strings.Contains(string(data), "&hardened") {
		return fmt.Errorf("%s has no services: or x-hardened anchor: update internal/testsite/website.go", filepath.Base(path))
	}
	return os.WriteFile(path, append(data, []byte(service)...), 0o644)
}
