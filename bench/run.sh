#!/usr/bin/env bash
# bench/run.sh — how fast are the tool's builds, and what does it cost on top
# of docker compose? Writes bench/RESULTS.md. See bench/README.md.
#
#   bash bench/run.sh                 N=5 runs of each measurement
#   BENCH_RUNS=3 bash bench/run.sh    fewer runs
#
# Environment:
#   BENCH_RUNS=5        runs of each build measurement (cold and warm)
#   BENCH_PS_RUNS=4*N   runs of each stack:ps measurement
#   BENCH_COLD=scoped   how a cold build is made (see "Cold builds" below);
#                       BENCH_COLD=prune also runs `docker builder prune -af`
#                       before every cold run — only on an engine nobody else uses
#   BENCH_NOTE=…        a sentence added to RESULTS.md (e.g. about the machine)
#   BENCH_RESULTS=path  where to write the results (default bench/RESULTS.md)
#   BENCH_KEEP=1        keep the work folder (logs) under /tmp
#
# Needs a Docker engine with the compose plugin and the dtx-base:bookworm image
# (bash .ci/engine.sh up; source /tmp/dtx-engine/env.sh), and Go.
#
# Cold builds. The engine may be shared (the e2e suite runs on it, and asserts
# that its second docker:build comes from the cache), so by default the script
# never clears the engine-wide BuildKit cache. Instead every cold run builds
# from a fresh project folder whose inputs no earlier build has seen: a
# stand-in binary with its own Go build ID (-ldflags=-buildid=…) and a comment
# line appended to nginx/nginx.conf. No step but FROM can then hit a cache from
# before the run (images of the same run still share steps, as in any build),
# for BuildKit or the legacy builder; after every run the script checks, from
# the images' creation times, that a cold run built all five images and a warm
# run none. The build-cache records that appeared during its BuildKit runs are
# removed at the end.
#
# Everything it creates is named dtxbench<pid>: images 127.0.0.1:5000/dtxbench<pid>/…
# (the tool), …/dtxbench<pid>-legacy/… and …/dtxbench<pid>-bkseq/… (the
# baselines), compose projects dtxbench<pid>-*. It removes them on exit, also on
# failure or Ctrl-C; it never touches other containers, images or networks.
set -euo pipefail

RUNS="${BENCH_RUNS:-5}"
COLD_MODE="${BENCH_COLD:-scoped}"
BASE_IMAGE="${DTX_BASE_IMAGE:-dtx-base:bookworm}"
REGISTRY_HOST="127.0.0.1:5000"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS="${BENCH_RESULTS:-$REPO/bench/RESULTS.md}"
ID="dtxbench$$"
IMAGES=(frontend frontend-dev backend backend-dev nginx)

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
  printf '[bench] ERROR: %s\n' "$*" >&2
  exit 1
}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$RUNS: give a positive whole number"
PS_RUNS="${BENCH_PS_RUNS:-$((4 * RUNS))}"
[[ $PS_RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_PS_RUNS=$PS_RUNS: give a positive whole number"
case $COLD_MODE in scoped | prune) ;; *) die "BENCH_COLD=$COLD_MODE: use scoped (default) or prune" ;; esac

BENCH_T0=${EPOCHREALTIME/[.,]/}

# ------------------------------------------------------------ prerequisites
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || die "go is not on PATH: the benchmark compiles the tool and the stand-in with Go"
# The project's private engine, when the caller did not point at one.
ENGINE_ENV="${DTX_ENGINE_DIR:-/tmp/dtx-engine}/env.sh"
if [[ -z ${DOCKER_HOST:-} && -f $ENGINE_ENV ]]; then
  # shellcheck disable=SC1090
  source "$ENGINE_ENV"
fi
command -v docker >/dev/null 2>&1 || die "docker is not on PATH: bash .ci/engine.sh up, then source /tmp/dtx-engine/env.sh"
ENGINE_VERSION="$(timeout 15 docker version --format '{{.Server.Version}}' 2>/dev/null || true)"
[[ -n $ENGINE_VERSION ]] || die "no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}: start one (bash .ci/engine.sh up; source /tmp/dtx-engine/env.sh) or set DOCKER_HOST"
COMPOSE_VERSION="$(timeout 15 docker compose version --short 2>/dev/null || true)"
[[ -n $COMPOSE_VERSION ]] || die "the docker compose plugin does not answer (docker compose version): bash .ci/engine.sh up installs it"
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "the base image $BASE_IMAGE is missing: bash .ci/engine.sh up imports it (or set DTX_BASE_IMAGE)"
unset DOCKER_BUILDKIT COMPOSE_PROJECT_NAME COMPOSE_FILE DRY_RUN

WORK="$(mktemp -d "/tmp/$ID.XXXXXX")"
SAMPLES="$WORK/samples"
LOGS="$WORK/logs"
mkdir -p "$SAMPLES" "$LOGS" "$WORK/runs"
: >"$WORK/cache-ids"
: >"$WORK/checks"
: >"$WORK/seen"
MAGE="$WORK/mage-bin"
EVENTS_PID=""
STACK_SITE="$WORK/stack-site"

# ------------------------------------------------------------ cleanup (trap)
cache_ids() { docker system df -v --format '{{range .BuildCache}}{{println .ID}}{{end}}' 2>/dev/null | sed '/^$/d' | sort; }

# our_refs: every image reference under our three repository prefixes.
our_refs() {
  docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null |
    grep -E "^${REGISTRY_HOST//./\\.}/${ID}(-legacy|-bkseq)?/" || true
}

# remove_refs REF…: untag (never by ID: an ID may carry other people's tags
# too); an image goes when its last tag does. Dev images last, so that the
# legacy builder's parent chains go with them.
remove_refs() {
  local refs=("$@")
  ((${#refs[@]})) || return 0
  local first=() last=() r
  for r in "${refs[@]}"; do
    if [[ $r == */*-dev:* ]]; then last+=("$r"); else first+=("$r"); fi
  done
  docker rmi "${first[@]}" "${last[@]}" >/dev/null
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  # A signal may arrive while a timed command's output goes to its log.
  exec 1>&3 2>&4
  stop_events
  log "cleaning up (exit status $rc)"
  local project
  for project in "$ID-debug" "$ID-test" "$ID-prod" "$ID-release"; do
    if [[ -n $(docker ps -aq --filter "label=com.docker.compose.project=$project") || -n $(docker network ls -q --filter "label=com.docker.compose.project=$project") ]]; then
      if [[ -x $MAGE && -d $STACK_SITE ]]; then
        (cd "$STACK_SITE" && "$MAGE" stack:down "${project#"$ID"-}") >>"$LOGS/cleanup.log" 2>&1 ||
          log "stack:down ${project#"$ID"-} failed (see below); removing by label"
      fi
      # Whatever stack:down could not remove, by our project label only.
      local ids nets
      mapfile -t ids < <(docker ps -aq --filter "label=com.docker.compose.project=$project")
      ((${#ids[@]} == 0)) || docker rm -f "${ids[@]}" >/dev/null
      mapfile -t nets < <(docker network ls -q --filter "label=com.docker.compose.project=$project")
      ((${#nets[@]} == 0)) || docker network rm "${nets[@]}" >/dev/null
    fi
  done
  local refs
  mapfile -t refs < <(our_refs)
  if ((${#refs[@]})); then
    remove_refs "${refs[@]}" || log "could not remove some images: ${refs[*]}"
  fi
  # Build-cache records our BuildKit runs created (recorded per run), children
  # before parents: a parent goes only once no child needs it.
  if [[ -s $WORK/cache-ids ]]; then
    sort -u "$WORK/cache-ids" -o "$WORK/cache-ids"
    local _ left id
    for _ in 1 2 3 4 5 6 7 8; do
      left=$(comm -12 "$WORK/cache-ids" <(cache_ids))
      [[ -n $left ]] || break
      for id in $left; do docker builder prune -af --filter "id=$id" >/dev/null 2>&1; done
    done
    left=$(comm -12 "$WORK/cache-ids" <(cache_ids) | wc -l)
    ((left == 0)) || log "$left build-cache records of this run are still in use; docker builder prune removes them later"
  fi
  if ((rc != 0)); then
    [[ -s $LOGS/cleanup.log ]] && tail -n 20 "$LOGS/cleanup.log" | sed 's/^/    | /' >&2
  fi
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    log "work folder kept: $WORK"
  else
    rm -rf "$WORK" 2>/dev/null || log "could not remove $WORK entirely"
  fi
  exit "$rc"
}
exec 3>&1 4>&2 # the script's own stdout and stderr, for cleanup
trap cleanup EXIT
# The engine's container events while we run: who else uses the engine.
docker events --filter type=container --format '{{index .Actor.Attributes "com.docker.compose.project"}}' >"$WORK/events" 2>/dev/null &
EVENTS_PID=$!
stop_events() {
  [[ -z $EVENTS_PID ]] || kill "$EVENTS_PID" 2>/dev/null
  [[ -z $EVENTS_PID ]] || wait "$EVENTS_PID" 2>/dev/null || true
  EVENTS_PID=""
}
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ the project copy
# A snapshot of the repository (others may edit it while we run): the module
# to compile the tool from, the fixture, and the files of a site.
log "work folder $WORK; names $ID"
tar -C "$REPO" -c --exclude=magefiles/mage_output_file.go --exclude=nginx/data \
  go.mod go.sum internal magefiles test/fixture nginx docker \
  docker-compose.debug.yaml docker-compose.test.yaml docker-compose.prod.yaml docker-compose.release.yaml |
  tar -C "$WORK" --transform 's,^,src/,' -x
SRC="$WORK/src"

# The tool, compiled once, so that no timing includes `go tool mage` itself.
log "compiling the tool: go tool mage -compile $MAGE"
(cd "$SRC" && go tool mage -compile "$MAGE") >"$LOGS/compile.log" 2>&1 || {
  cat "$LOGS/compile.log" >&2
  die "go tool mage -compile failed"
}

# The site template, as test/e2e/harness_test.go newSite builds it (the
# stand-in binary comes per site, see new_site).
TEMPLATE="$WORK/template"
for rel in docker-compose.debug.yaml docker-compose.test.yaml docker-compose.prod.yaml docker-compose.release.yaml \
  docker/.env.dev docker/.env.test docker/.env.prod docker/.env.release \
  nginx/Dockerfile nginx/nginx.conf nginx/entrypoint.sh nginx/default.template.conf \
  test/fixture/frontend/Dockerfile test/fixture/frontend/public/index.html test/fixture/backend/Dockerfile; do
  dst="$TEMPLATE/${rel#test/fixture/}"
  mkdir -p "$(dirname "$dst")"
  cp -p "$SRC/$rel" "$dst"
done
VERSION_TAG="$(sed -n 's/^VERSION=//p' "$TEMPLATE/docker/.env.release" | tail -n 1)"
[[ -n $VERSION_TAG ]] || die "no VERSION in docker/.env.release"

# new_site DIR NONCE: a fresh copy of the template whose build inputs are new
# to every cache: the stand-in with Go build ID NONCE (CGO_ENABLED=0, as the
# harness builds it, in both contexts) and NONCE in a comment of nginx.conf.
new_site() {
  local dir=$1 nonce=$2
  cp -a "$TEMPLATE" "$dir"
  (cd "$SRC" && CGO_ENABLED=0 go build -trimpath -ldflags="-buildid=$nonce" -o "$dir/frontend/standin" ./test/fixture/standin) ||
    die "building the stand-in failed"
  cp "$dir/frontend/standin" "$dir/backend/standin"
  printf '# bench nonce %s: makes this build new to every cache\n' "$nonce" >>"$dir/nginx/nginx.conf"
}

# The variables of the tool's runs, as the e2e harness sets them.
HTTP_PORT="" HTTPS_PORT=""
free_port() {
  local p _
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    [[ $p != "$HTTP_PORT" ]] || continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found on 127.0.0.1"
}
HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
export REGISTRY="$REGISTRY_HOST/$ID" NGINX_BASE_IMAGE="$BASE_IMAGE" REDIS_IMAGE="$BASE_IMAGE" \
  COMPOSE_PROJECT_PREFIX="$ID" PUBLISH_ADDRESS=127.0.0.1 HTTP_PORT HTTPS_PORT DOMAIN=dtx.test \
  VERSION="$VERSION_TAG" # docker:build tags VERSION; the baselines use the same tags

# ------------------------------------------------------------ measuring
# timed KEY DIR CMD…: runs CMD in DIR (in this shell: no subshell), output to
# a log, and appends its wall time in microseconds to samples/KEY.
LAST_LOG="" LAST_START=0 CUR_KEY="" LAP=0
timed() {
  local key=$1 dir=$2
  shift 2
  local n=1
  [[ ! -f $SAMPLES/$key ]] || n=$(($(wc -l <"$SAMPLES/$key") + 1))
  LAST_LOG="$LOGS/$key.$n.log"
  CUR_KEY=$key
  cd "$dir"
  local t0 t1 rc=0
  t0=${EPOCHREALTIME/[.,]/}
  LAP=$t0
  "$@" >"$LAST_LOG" 2>&1 || rc=$?
  t1=${EPOCHREALTIME/[.,]/}
  cd "$WORK"
  if ((rc != 0)); then
    tail -n 40 "$LAST_LOG" | sed 's/^/    | /' >&2
    die "$key run $n failed (exit $rc): $*"
  fi
  LAST_START=$((10#$t0))
  echo $((10#$t1 - 10#$t0)) >>"$SAMPLES/$key"
}

# lap IMAGE: the time since the previous lap, to samples/KEY.IMAGE.
lap() {
  local t=${EPOCHREALTIME/[.,]/}
  echo $((10#$t - 10#$LAP)) >>"$SAMPLES/$CUR_KEY.$1"
  LAP=$t
}

# seq_build BUILDKIT PREFIX: the five images with five `docker build`s, the
# same Dockerfiles, targets, build argument and tags as docker:build; each
# build's own time goes to the laps.
seq_build() {
  local bk=$1 prefix=$2
  # (set -e does not apply inside a function called from `||`: stop explicitly.)
  DOCKER_BUILDKIT=$bk docker build -f frontend/Dockerfile --target runtime -t "$prefix/frontend:$VERSION_TAG" -t "$prefix/frontend:latest" frontend || return
  lap frontend
  DOCKER_BUILDKIT=$bk docker build -f frontend/Dockerfile --target runtime-dev -t "$prefix/frontend-dev:$VERSION_TAG" -t "$prefix/frontend-dev:latest" frontend || return
  lap frontend-dev
  DOCKER_BUILDKIT=$bk docker build -f backend/Dockerfile --target runtime -t "$prefix/backend:$VERSION_TAG" -t "$prefix/backend:latest" backend || return
  lap backend
  DOCKER_BUILDKIT=$bk docker build -f backend/Dockerfile --target runtime-dev -t "$prefix/backend-dev:$VERSION_TAG" -t "$prefix/backend-dev:latest" backend || return
  lap backend-dev
  DOCKER_BUILDKIT=$bk docker build --build-arg "NGINX_BASE_IMAGE=$NGINX_BASE_IMAGE" -f nginx/Dockerfile -t "$prefix/nginx:$VERSION_TAG" -t "$prefix/nginx:latest" nginx || return
  lap nginx
}
tool_build() { "$MAGE" docker:build; }
legacy_build() { seq_build 0 "$REGISTRY_HOST/$ID-legacy"; }
bkseq_build() { seq_build 1 "$REGISTRY_HOST/$ID-bkseq"; }

declare -A VARIANT_PREFIX=([tool]="$REGISTRY_HOST/$ID" [legacy]="$REGISTRY_HOST/$ID-legacy" [bkseq]="$REGISTRY_HOST/$ID-bkseq")
declare -A VARIANT_CMD=([tool]=tool_build [legacy]=legacy_build [bkseq]=bkseq_build)
declare -A VARIANT_BUILDKIT=([tool]=1 [legacy]=0 [bkseq]=1)

# rebuilt PREFIX SINCE_US: how many of the five images were created at or
# after SINCE_US (the others came from the cache).
rebuilt() {
  local prefix=$1 since=$2 n=0 c img
  for img in "${IMAGES[@]}"; do
    c=$(docker image inspect --format '{{.Created}}' "$prefix/$img:latest") || die "image $prefix/$img:latest was not built"
    (($(date -d "$c" +%s%6N) >= since)) && n=$((n + 1))
  done
  echo "$n"
}

# note_load: the load average and the other compose projects running on the
# engine, between runs (the machine may be shared).
note_load() {
  cut -d' ' -f1 /proc/loadavg >>"$WORK/load"
  docker ps --format '{{.Label "com.docker.compose.project"}}' 2>/dev/null | sed '/^$/d' | grep -v "^$ID" >>"$WORK/seen" || true
}

# build_run VARIANT KIND: one timed build (KIND cold or warm) in $SITE.
build_run() {
  local v=$1 kind=$2 before n
  ((VARIANT_BUILDKIT[$v])) && before=$(cache_ids)
  timed "${kind}_$v" "$SITE" "${VARIANT_CMD[$v]}"
  ((VARIANT_BUILDKIT[$v])) && comm -13 <(echo "$before") <(cache_ids) >>"$WORK/cache-ids"
  n=$(rebuilt "${VARIANT_PREFIX[$v]}" "$LAST_START")
  echo "${kind}_$v $n" >>"$WORK/checks"
  local want=0
  [[ $kind == warm ]] || want=${#IMAGES[@]}
  ((n == want)) || log "WARNING: $kind $v run rebuilt $n of ${#IMAGES[@]} images (expected $want)"
}

order() { # order ROUND ITEM…: the items rotated by ROUND-1, so each comes first in turn
  local r=$1
  shift
  local items=("$@") k=${#@} i
  for ((i = 0; i < k; i++)); do echo "${items[$(((i + r - 1) % k))]}"; done
}

VARIANTS=(tool legacy bkseq)
log "builds: $RUNS rounds of cold+warm × (docker:build, 5× docker build legacy, 5× docker build BuildKit), cold mode $COLD_MODE"
for ((round = 1; round <= RUNS; round++)); do
  for v in $(order "$round" "${VARIANTS[@]}"); do
    SITE="$WORK/runs/$v-$round"
    new_site "$SITE" "$ID.$v.$round"
    mapfile -t old < <(our_refs | grep "^${VARIANT_PREFIX[$v]}/" || true)
    remove_refs "${old[@]}"
    [[ $COLD_MODE != prune ]] || docker builder prune -af >/dev/null
    note_load
    build_run "$v" cold
    build_run "$v" warm
    rm -rf "$SITE"
  done
  log "round $round/$RUNS done"
done

# ------------------------------------------------------------ stack:ps overhead
log "stack: docker:build and stack:up debug in $STACK_SITE"
new_site "$STACK_SITE" "$ID.stack"
mapfile -t old < <(our_refs | grep "^$REGISTRY/" || true)
remove_refs "${old[@]}" # else the new build would leave the last round's images dangling
before=$(cache_ids)
(cd "$STACK_SITE" && "$MAGE" docker:build) >"$LOGS/stack-build.log" 2>&1 || {
  tail -n 40 "$LOGS/stack-build.log" >&2
  die "docker:build for the stack failed"
}
comm -13 <(echo "$before") <(cache_ids) >>"$WORK/cache-ids"
(cd "$STACK_SITE" && "$MAGE" stack:up debug) >"$LOGS/stack-up.log" 2>&1 || {
  tail -n 40 "$LOGS/stack-up.log" >&2
  die "stack:up debug failed"
}
(cd "$STACK_SITE" && "$MAGE" stack:ps debug) >"$LOGS/ps-probe.log" 2>&1 || {
  cat "$LOGS/ps-probe.log" >&2
  die "stack:ps debug failed"
}
# The exact command the tool runs, from its printed "+ docker compose …" line.
PS_LINE="$(grep -m1 '^+ docker compose ' "$LOGS/ps-probe.log" | sed 's/^+ //')" || true
[[ -n $PS_LINE ]] || die "stack:ps printed no '+ docker compose …' line: $(cat "$LOGS/ps-probe.log")"
[[ $PS_LINE != *[\'\"\\\$\`]* ]] || die "cannot replay a quoted command: $PS_LINE"
read -r -a RAW_PS <<<"$PS_LINE"
RUNNING=$(grep -c 'Up ' "$LOGS/ps-probe.log" || true)
log "replaying: $PS_LINE ($RUNNING containers up)"
tool_ps() { "$MAGE" stack:ps debug; }
raw_ps() { "${RAW_PS[@]}"; }
gotool_ps() { go tool mage -d magefiles -w "$STACK_SITE" stack:ps debug; }
# One untimed run of each first (page cache; go tool mage compiles its binary).
for f in tool_ps raw_ps; do (cd "$STACK_SITE" && $f) >/dev/null 2>&1 || die "$f failed"; done
(cd "$SRC" && gotool_ps) >"$LOGS/gotool-warmup.log" 2>&1 || {
  cat "$LOGS/gotool-warmup.log" >&2
  die "go tool mage stack:ps failed"
}
declare -A PS_DIR=([tool_ps]="$STACK_SITE" [raw_ps]="$STACK_SITE" [gotool_ps]="$SRC")
for ((round = 1; round <= PS_RUNS; round++)); do
  ((round % 5 == 1)) && note_load
  for f in $(order "$round" tool_ps raw_ps gotool_ps); do
    timed "ps_${f%_ps}" "${PS_DIR[$f]}" "$f"
  done
done

log "stack:down debug"
(cd "$STACK_SITE" && "$MAGE" stack:down debug) >"$LOGS/stack-down.log" 2>&1 || log "stack:down debug failed; the exit trap retries"

# ------------------------------------------------------------ results
# stats KEY: median min max (microseconds)
stats() {
  sort -n "$SAMPLES/$1" | awk '{v[NR]=$1} END {
    m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
    printf "%d %d %d\n", m, v[1], v[NR] }'
}
med() { stats "$1" | cut -d' ' -f1; }
s2() { awk -v u="$1" 'BEGIN { printf "%.2f s", u/1e6 }'; }
ms1() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u/1e3 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a/b }'; }
row() { # row LABEL KEY FORMAT
  local m lo hi n
  read -r m lo hi < <(stats "$2")
  n=$(wc -l <"$SAMPLES/$2")
  echo "| $1 | $n | $($3 "$m") | $($3 "$lo") | $($3 "$hi") |"
}
check() { # check KEY WANT: "ok" when every run rebuilt WANT images
  local got
  got=$(awk -v k="$1" '$1 == k { print $2 }' "$WORK/checks" | sort -u | paste -sd/)
  if [[ $got == "$2" ]]; then echo "$2 of 5 rebuilt in every run"; else echo "**rebuilt $got of 5 (expected $2)**"; fi
}
laps() { # laps KEY: one table row of the median time of each image's build
  local img cells=""
  for img in "${IMAGES[@]}"; do cells+=" $(s2 "$(med "$1.$img")") |"; done
  echo "$cells"
}
raw() { paste -sd' ' "$SAMPLES/$1" | awk '{ for (i = 1; i <= NF; i++) printf "%s%.0f", (i > 1 ? " " : ""), $i/1e3 }'; }

BENCH_T1=${EPOCHREALTIME/[.,]/}
TOTAL_S=$(awk -v u=$((10#$BENCH_T1 - 10#$BENCH_T0)) 'BEGIN { printf "%.0f", u/1e6 }')
CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
MEM="$(awk '/^MemTotal/ { printf "%.1f GB", $2/1048576 }' /proc/meminfo)"
STORAGE="$(docker info --format '{{.Driver}}' 2>/dev/null || echo '?')"
CLIENT_VERSION="$(docker version --format '{{.Client.Version}}' 2>/dev/null || echo '?')"
COMMIT="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
if [[ -n $(GIT_OPTIONAL_LOCKS=0 git -C "$REPO" status --porcelain 2>/dev/null) ]]; then COMMIT="$COMMIT + uncommitted changes"; fi
LOAD_RANGE="$(sort -n "$WORK/load" | sed -n '1p;$p' | paste -sd' ' | awk '{ printf "%s to %s", $1, $2 }')"
stop_events
# Other compose projects whose containers did anything during the run (the
# event stream), or were running between runs.
sed '/^$/d' "$WORK/events" | grep -v "^$ID" >>"$WORK/seen" || true
SEEN="$(sort -u "$WORK/seen" | paste -sd' ' | sed 's/ /, /g')"
if [[ -n $SEEN ]]; then
  SHARED="Shared engine: other compose projects had containers on it during the run ($SEEN)."
else
  SHARED="No other compose project used the engine during the run."
fi

CA=$(med cold_tool) CL=$(med cold_legacy) CK=$(med cold_bkseq)
WA=$(med warm_tool) WL=$(med warm_legacy) WK=$(med warm_bkseq)
PA=$(med ps_tool) PB=$(med ps_raw) PC=$(med ps_gotool)
OVER=$(awk -v a="$PA" -v b="$PB" 'BEGIN { printf "%.0f", (a-b)/1e3 }')
OVERC=$(awk -v a="$PC" -v b="$PB" 'BEGIN { printf "%.0f", (a-b)/1e3 }')
if [[ $COLD_MODE == prune ]]; then
  COLD_TEXT="before every cold run the variant's images were removed and the whole BuildKit cache cleared (\`docker builder prune -af\`), and the run built from a fresh project folder with a new stand-in binary"
else
  COLD_TEXT="before every cold run the variant's images were removed, and the run built from a fresh project folder whose inputs no cache had seen (the stand-in binary with its own Go build ID, a nonce comment in nginx/nginx.conf); the engine-wide BuildKit cache was left alone because the engine is shared (BENCH_COLD=prune clears it)"
fi

tmp="$RESULTS.tmp.$$"
mkdir -p "$(dirname "$RESULTS")"
{
  cat <<EOF
# Benchmark results

Written by \`bash bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') (repository at $COMMIT). See
[README.md](README.md) for what is measured and how.

- Machine: $(nproc) cores ($CPU), $MEM, $(uname -sr).
- Engine: Docker $ENGINE_VERSION (storage driver $STORAGE), client $CLIENT_VERSION, compose $COMPOSE_VERSION, no buildx; $(go version | cut -d' ' -f3).
- Runs: N=$RUNS per build measurement (cold and warm), N=$PS_RUNS per stack:ps measurement, interleaved (each round rotates which variant goes first). Whole benchmark: ${TOTAL_S} s.
- Noise: $SHARED Load average between runs: $LOAD_RANGE. Figures from a busy 2-core machine spread widely; compare medians, and only ratios from the same run.${BENCH_NOTE:+
- Note: $BENCH_NOTE}
- The tool ran as a binary compiled once with \`go tool mage -compile\`, from the site folder: the timings exclude \`go tool mage\`'s own start-up (measured separately in 3c).

## 1–2. Building the five images

Cold: $COLD_TEXT. Warm: the same command again right away, nothing changed.

| measurement | N | median | min | max |
|---|---|---|---|---|
$(row "1a. cold: \`mage docker:build\` (one compose build, BuildKit, 5 images in parallel)" cold_tool s2)
$(row "1b. cold: 5 sequential \`docker build\`, legacy builder (DOCKER_BUILDKIT=0)" cold_legacy s2)
$(row "1c. cold: 5 sequential \`docker build\`, BuildKit (DOCKER_BUILDKIT=1)" cold_bkseq s2)
$(row "2a. warm: \`mage docker:build\`" warm_tool s2)
$(row "2b. warm: 5 sequential \`docker build\`, legacy builder" warm_legacy s2)
$(row "2c. warm: 5 sequential \`docker build\`, BuildKit" warm_bkseq s2)

| ratio of medians (tool / baseline) | cold | warm |
|---|---|---|
| docker:build / 5× legacy \`docker build\` | $(ratio "$CA" "$CL") | $(ratio "$WA" "$WL") |
| docker:build / 5× BuildKit \`docker build\` | $(ratio "$CA" "$CK") | $(ratio "$WA" "$WK") |

Where the sequential time goes (median of each \`docker build\` of the sequence):

| sequence | frontend | frontend-dev | backend | backend-dev | nginx |
|---|---|---|---|---|---|
| cold, legacy builder |$(laps cold_legacy)
| cold, BuildKit |$(laps cold_bkseq)
| warm, legacy builder |$(laps warm_legacy)
| warm, BuildKit |$(laps warm_bkseq)

The legacy builder creates (and removes) a container for every instruction
after the first cache miss, metadata ones included (ENV, EXPOSE, HEALTHCHECK,
ENTRYPOINT…: the \`Running in …\` lines of its log), so even the FROM-scratch
images take seconds; for nginx, on the engine's vfs storage driver (no
copy-on-write), each of those containers' layers is a full copy of the 192 MB
Debian base. BuildKit starts a container for the \`RUN\` step only. ENGINE.md's
"5.3 s cold" for five sequential legacy builds was measured with five small
images, not with this nginx image.

Cache check (images whose creation time is after the run's start): cold docker:build $(check cold_tool 5); legacy $(check cold_legacy 5); BuildKit $(check cold_bkseq 5). Warm: docker:build $(check warm_tool 0); legacy $(check warm_legacy 0); BuildKit $(check warm_bkseq 0).

The docker:build figures are the whole target: loading the env files, the three
engine probes (\`docker version\` twice, \`docker compose version\`), the compose
build, and one \`docker image inspect\` per image for the summary.

## 3. Overhead of a cheap target: \`stack:ps debug\`

With the debug stack running ($RUNNING containers up, started by \`stack:up debug\`), the tool's
\`stack:ps debug\` against the command it prints and runs, replayed verbatim:

    $PS_LINE

| measurement | N | median | min | max |
|---|---|---|---|---|
$(row "3a. \`mage stack:ps debug\` (compiled binary)" ps_tool ms1)
$(row "3b. \`docker compose … ps\` (the command above)" ps_raw ms1)
$(row "3c. \`go tool mage -d magefiles -w SITE stack:ps debug\` (what a developer types; binary cached)" ps_gotool ms1)

- Tool / raw compose: **$(ratio "$PA" "$PB")×**, i.e. **$OVER ms** more per call (median minus median).
- \`go tool mage\` / raw compose: $(ratio "$PC" "$PB")× ($OVERC ms more): the start-up of \`go tool\` (the go command finding the mage tool in its build cache) and of mage (hashing the magefiles, finding its cached binary) on top of the tool's.

## How to read these figures

Each figure is the wall time of one whole command, start to exit, timed with
bash's \`EPOCHREALTIME\` (microseconds); the table shows the median and the
range of N runs. Ratios divide medians of the same benchmark run, so the
machine's state at that moment cancels out as far as it can; absolute seconds
from another run, or another machine, are not comparable. A ratio below 1
means the tool is faster than the baseline. Cold builds measure the real work
(copying the contexts, running the nginx \`RUN\` on the vfs storage driver,
which copies the whole base image, and exporting); warm builds measure what a
developer pays when nothing changed: mostly start-up and cache lookups, which
is where the tool's fixed costs (env loading, engine probes, the summary's
inspects) show. The stack:ps rows isolate those fixed costs: 3a minus 3b is what
the tool adds to any compose command. With N=$RUNS on a shared 2-core machine,
treat differences under about 10–20 % as noise; look at min/max before trusting
a median.

## Raw samples (ms, in run order)

| measurement | samples |
|---|---|
| 1a cold docker:build | $(raw cold_tool) |
| 1b cold legacy | $(raw cold_legacy) |
| 1c cold BuildKit | $(raw cold_bkseq) |
| 2a warm docker:build | $(raw warm_tool) |
| 2b warm legacy | $(raw warm_legacy) |
| 2c warm BuildKit | $(raw warm_bkseq) |
| 3a mage stack:ps | $(raw ps_tool) |
| 3b docker compose ps | $(raw ps_raw) |
| 3c go tool mage stack:ps | $(raw ps_gotool) |
EOF
} >"$tmp"
mv "$tmp" "$RESULTS"
log "wrote $RESULTS (${TOTAL_S} s)"
sed -n '/^| measurement | N/,/^$/p' "$RESULTS" >&2
