#!/usr/bin/env bash
# .ci/engine.sh — install (cached) and run what the end-to-end tests need:
# a Docker engine (the one that already answers, as on a GitHub runner, or
# else a private one: Debian trixie's docker.io 26, unpacked, not installed),
# the docker compose v2 plugin and the buildx plugin (built where missing),
# a local registry on 127.0.0.1:5000, the base images (the official ones when
# the engine can pull them, else an offline Debian stand-in, dtx-base:bookworm),
# Pebble + pebble-challtestsrv binaries, and Debian's certbot, nginx-light,
# gettext-base (envsubst) and busybox on the host.
#
#   .ci/engine.sh up      install what is missing, start what is not running
#   .ci/engine.sh down    stop what `up` started (registry, private dockerd), by pidfile
#   .ci/engine.sh env     print the export lines (eval "$(.ci/engine.sh env)")
#   .ci/engine.sh status  show what is running
#
# DTX_ENGINE=private starts the private engine even when another answers;
# DTX_OFFLINE_BASES=1 uses the offline base image even when pulls work;
# DTX_ENGINE_NETNS=NAME runs the private engine and its registry in the
# network namespace NAME (made, with a route out, when missing): a second
# engine beside another one, each with its own bridge, iptables and
# 127.0.0.1.
#
# Cache (slow things, keyed by version): ${DTX_CACHE:-$HOME/.cache/dtx-ci}
# State (sockets, pidfiles, data, logs):  ${DTX_ENGINE_DIR:-/tmp/dtx-engine}
# See .ci/README-engine.md.
set -euo pipefail

COMPOSE_VERSION=v2.40.3
REGISTRY_VERSION=v3.1.2
PEBBLE_VERSION=v2.10.1
BASE_SUITE=bookworm
# The offline stand-in for every official base image the project uses:
# nginx (nginx:*-alpine), redis (redis:*-alpine), node (the frontend) and
# python3 (the backend).
BASE_INCLUDE=nginx-light,gettext-base,redis-server,openssl,nodejs,python3
BASE_IMAGE=dtx-base:bookworm
BASE_RECIPE=1 # bump when the rootfs tweaks below change
REGISTRY_ADDR=127.0.0.1:5000
# The private engine comes from Debian $DOCKER_SUITE: 20.10 (bookworm's)
# refuses additional build contexts, 26.1 takes them. Its binaries need libc
# >= 2.34, which bookworm has. They are downloaded through a package list of
# this script's own and unpacked, never installed: the system stays on its
# own release.
DOCKER_SUITE=trixie
DOCKER_DEBS=(docker.io docker-cli containerd)
# These come from the system's own release: trixie's runc needs libc >= 2.38,
# and the engine takes any runc >= 1.0. tini is docker-init (`--init`).
HOST_DEBS=(runc tini)
# compose builds through Bake, which needs buildx >= 0.17 (trixie has 0.13,
# with which compose refuses to build at all). The buildx built here is the
# one compose's go.mod requires (see build_plugins).
BUILDX_VERSION=v0.29.1
BUILDX_MIN=0.17.0

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO="$(dirname "$(dirname "$SELF")")"
CACHE="${DTX_CACHE:-$HOME/.cache/dtx-ci}"
STATE="${DTX_ENGINE_DIR:-/tmp/dtx-engine}"
LOGS="$STATE/logs"
TMPS="$CACHE/.tmp"
SOCK="$STATE/docker.sock"
DOCKERD_PIDFILE="$STATE/dockerd.pid"
DOCKERD_LOG="$LOGS/dockerd.log"
CONTAINERD_PIDFILE="$STATE/exec/containerd/containerd.pid"
REG_PIDFILE="$STATE/registry.pid"
REG_CFG="$STATE/registry.yml"
REG_LOG="$LOGS/registry.log"
ENV_FILE="$STATE/env.sh"
MODE_FILE="$STATE/engine.mode" # "private", or "existing <DOCKER_HOST>"
# The engine the caller points at, before this script points DOCKER_HOST at
# the private one.
CALLER_DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}

COMPOSE_DIR="$CACHE/compose-$COMPOSE_VERSION"
BUILDX_DIR="$CACHE/buildx-$BUILDX_VERSION"
SUITE_APT="$CACHE/apt-$DOCKER_SUITE" # the package list of $DOCKER_SUITE
REGISTRY_DIR="$CACHE/registry-$REGISTRY_VERSION"
PEBBLE_DIR="$CACHE/pebble-$PEBBLE_VERSION"
BASE_KEY="$(printf '%s\n' "$BASE_SUITE" minbase "$BASE_INCLUDE" "$BASE_RECIPE" | sha256sum | cut -c1-12)"
BASE_DIR="$CACHE/base-$BASE_SUITE-$BASE_KEY"
BASE_TAR="$BASE_DIR/rootfs.tar"
DEBS_DIR="" # set by find_debs

# The network namespace of the private engine (none: the host's).
NETNS="${DTX_ENGINE_NETNS:-}"
NETNS_NET="${DTX_ENGINE_NETNS_NET:-10.231.0.0/30}"
NETNS_FILE="$STATE/netns" # written when up made the namespace: what down removes
NETNS_NAME_FILE="$STATE/engine.netns" # the namespace the engine of this state folder runs in
if [[ -z $NETNS && -s $NETNS_NAME_FILE ]]; then read -r NETNS <"$NETNS_NAME_FILE"; fi
if [[ -n $NETNS && ! $NETNS =~ ^[A-Za-z0-9_-]{1,12}$ ]]; then
  echo "[engine] ERROR: DTX_ENGINE_NETNS=$NETNS: use 1 to 12 letters, digits, _ or -" >&2
  exit 2
fi
NETNS_PATH="/var/run/netns/$NETNS"
NS_EXEC=() # the prefix that runs a command in the engine's namespace
if [[ -n $NETNS ]]; then NS_EXEC=(nsenter "--net=$NETNS_PATH" --); fi

# Go may live outside a minimal PATH (e.g. under CI with a reduced environment).
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:$PATH"
fi
export DOCKER_HOST="unix://$SOCK"

# ---------------------------------------------------------------- helpers
log() { printf '[engine] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
now_us() {
  local t=$EPOCHREALTIME
  t=${t//[.,]/}
  echo "$((10#$t))"
}
fmt_us() { printf '%d.%01ds' $(($1 / 1000000)) $((($1 % 1000000) / 100000)); }
tail_log() { if [[ -f $1 ]]; then tail -n "${2:-30}" "$1" | sed 's/^/    | /' >&2; fi; }

declare -a STEP_ORDER=()
declare -A STEP_TIME=()
record() {
  STEP_ORDER+=("$1")
  STEP_TIME[$1]="$2"
}

# pid_from PIDFILE: prints the pid in it, if any
pid_from() {
  local p=""
  if [[ -s $1 ]]; then read -r p <"$1" 2>/dev/null || true; fi
  [[ $p =~ ^[0-9]+$ ]] && echo "$p"
  return 0
}
# pid_alive PID COMM: true if PID is a live (non-zombie) process named COMM
# (a regular expression: a|b for either)
pid_alive() {
  local pid=$1 comm=$2 c st
  [[ -n $pid ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  c=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ $c =~ ^($comm)$ ]] || return 1
  st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ $st != Z ]]
}
# stop_pid NAME PID COMM [TIMEOUT_S]: SIGTERM, wait, then SIGKILL. By PID only.
stop_pid() {
  local name=$1 pid=$2 comm=$3 timeout=${4:-20} i
  pid_alive "$pid" "$comm" || return 0
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    pid_alive "$pid" "$comm" || return 0
    sleep 0.1
  done
  log "$name: pid $pid still alive after ${timeout}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pid_alive "$pid" "$comm" || return 0
    sleep 0.1
  done
  log "$name: WARNING: pid $pid survived SIGKILL"
}
stop_pidfile() { # NAME PIDFILE COMM
  local pid
  pid=$(pid_from "$2")
  if [[ -n $pid ]] && pid_alive "$pid" "$3"; then
    stop_pid "$1" "$pid" "$3" 20
  else
    log "$1: not running"
  fi
  rm -f "$2"
}

# safe_rmtree DIR: unmount anything left mounted below DIR (debootstrap mounts
# /proc, /sys and maybe binds /dev), then remove it without crossing filesystems.
safe_rmtree() {
  local d=$1 m
  [[ -e $d ]] || return 0
  d=$(realpath "$d")
  [[ $d == "$(realpath "$CACHE")"/?* ]] || die "refusing to remove $d"
  while read -r m; do
    if [[ -n $m ]]; then umount -l "$m" 2>/dev/null || true; fi
  done < <(awk -v d="$d/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
  rm -rf --one-file-system "$d"
}

go_in_tmp() { # run go with a neutral environment (never inside a repo's go.mod)
  GOWORK=off GO111MODULE=on GOFLAGS=-buildvcs=false CGO_ENABLED=0 go "$@"
}
# mod_dir MODULE@VERSION: download the module, print its folder in the module cache
mod_dir() {
  local out dir
  out=$(go_in_tmp mod download -json "$1") || return 1
  dir=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n1)
  [[ -n $dir && -d $dir ]] || {
    echo "no Dir for $1 in: $out" >&2
    return 1
  }
  echo "$dir"
}

# as_root CMD...: root's commands (apt) as root; elsewhere (a GitHub runner's
# user) through passwordless sudo.
as_root() {
  if ((EUID == 0)); then "$@"; else sudo -n "$@"; fi
}

# ---------------------------------------------------------------- apt
APT_FRESH=0
POLICY_RC_CREATED=0
apt_get() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0 "$@" >>"$LOGS/apt.log" 2>&1
}
apt_update() { # [force]: once per run, and not at all if done in the last 6 h
  ((APT_FRESH)) && return 0
  if [[ ${1:-} != force && -n $(find "$CACHE/.apt-updated" -mmin -360 2>/dev/null) ]]; then
    return 0
  fi
  log "apt-get update"
  apt_get update || {
    tail_log "$LOGS/apt.log"
    die "apt-get update failed (log: $LOGS/apt.log)"
  }
  touch "$CACHE/.apt-updated"
  APT_FRESH=1
}
apt_run() { # apt-get ARGS, refreshing the package lists once if they were stale
  apt_update
  apt_get "$@" && return 0
  if ((!APT_FRESH)); then
    log "apt-get $1 failed with the current package lists; refreshing them"
    apt_update force
    apt_get "$@" && return 0
  fi
  tail_log "$LOGS/apt.log"
  die "apt-get $* failed (log: $LOGS/apt.log)"
}
pkg_installed() {
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}
nginx_live_pid() {
  local p
  p=$(pid_from /run/nginx.pid)
  [[ -n $p ]] && pid_alive "$p" nginx && echo "$p"
  return 0
}
apt_install() { # PACKAGES...: never leave a packaged service running
  local before after
  before=$(nginx_live_pid)
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, from .ci/engine.sh: do not start services\nexit 101\n' |
      as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=1
  fi
  log "apt-get install $*"
  apt_run install --no-install-recommends "$@"
  if ((POLICY_RC_CREATED)); then
    as_root rm -f /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=0
  fi
  after=$(nginx_live_pid)
  if [[ -n $after && $after != "$before" ]]; then
    log "nginx was started by its package (pid $after); stopping it"
    stop_pid nginx "$after" nginx 10
  fi
}

# ---------------------------------------------------------------- docker debs
# One folder per engine version: the $DOCKER_SUITE packages and this system's
# runc and tini, unpacked together (their usr/bin and usr/sbin go on PATH).
find_debs() {
  local d
  DEBS_DIR=""
  for d in "$CACHE/docker-$DOCKER_SUITE"-*/; do
    [[ -f $d/.complete ]] && DEBS_DIR=${d%/}
  done
  return 0
}
# suite_apt ARGS: apt-get against $DOCKER_SUITE's package list alone, kept in
# $SUITE_APT (the system's sources, lists and pinning are neither read nor
# changed).
suite_apt() {
  apt_get -o Dir::Etc::SourceList="$SUITE_APT/$DOCKER_SUITE.sources" -o Dir::Etc::SourceParts="$SUITE_APT/none" \
    -o Dir::Etc::Preferences="$SUITE_APT/none/preferences" -o Dir::Etc::PreferencesParts="$SUITE_APT/none" \
    -o Dir::State::Lists="$SUITE_APT/lists" -o Dir::Cache="$SUITE_APT/cache" "$@"
}
fetch_debs() {
  local tmp f ver
  tmp=$(mktemp -d "$TMPS/debs.XXXXXX")
  chmod 755 "$tmp" # apt downloads as user _apt
  mkdir -p "$SUITE_APT"/{none,lists/partial,cache/archives/partial}
  # Targets: the Packages index alone (no translations, no AppStream data).
  printf '%s\n' '# written by .ci/engine.sh: where it downloads the engine from (never installs)' \
    'Types: deb' "URIs: $(debian_mirror)" "Suites: $DOCKER_SUITE" 'Components: main' 'Targets: Packages' \
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' >"$SUITE_APT/$DOCKER_SUITE.sources"
  log "docker debs: apt-get download ${DOCKER_DEBS[*]} ($DOCKER_SUITE), ${HOST_DEBS[*]} (this system's release)"
  suite_apt update || {
    tail_log "$LOGS/apt.log"
    die "apt-get update of $DOCKER_SUITE's package list failed (log: $LOGS/apt.log)"
  }
  cd "$tmp"
  suite_apt download "${DOCKER_DEBS[@]}" || {
    tail_log "$LOGS/apt.log"
    die "apt-get download ${DOCKER_DEBS[*]} from $DOCKER_SUITE failed (log: $LOGS/apt.log)"
  }
  apt_run download "${HOST_DEBS[@]}"
  cd /
  ver=$(dpkg-deb -f "$tmp"/docker.io_*.deb Version)
  mkdir -p "$tmp/root"
  for f in "$tmp"/*.deb; do
    dpkg -x "$f" "$tmp/root"
    dpkg-deb -f "$f" Package Version | paste -sd' ' >>"$tmp/root/VERSIONS"
  done
  touch "$tmp/root/.complete"
  local dest="$CACHE/docker-$DOCKER_SUITE-${ver//[:~\/]/_}"
  rm -rf "$dest"
  mv "$tmp/root" "$dest"
  rm -rf "$tmp"
  find_debs
}

# ---------------------------------------------------------------- go builds
# Each runs as `engine.sh __build NAME` in its own session (so that it can be
# stopped as a group by its PID), writes only to a temp folder, then renames it.
# build_plugins: the compose and buildx plugins named in $PLUGINS that are
# not built yet, from one `go build` of compose's module. Compose is built
# on buildx's packages (and BuildKit's, the docker CLI's...), so buildx's
# command costs little on top of compose: its version is the one compose
# requires, and the packages both use are compiled once. compose refuses
# `go install` (its go.mod has exclude directives), hence the writable copy;
# -mod=mod adds the go.sum lines of the few modules only buildx's command
# uses. Without its version in -ldflags buildx reports none, and compose
# then refuses to build ("requires buildx 0.17 or later").
build_plugins() {
  local -a pkgs=()
  if [[ " $PLUGINS " == *" compose "* ]] && ! built compose; then pkgs+=(./cmd); fi
  if [[ " $PLUGINS " == *" buildx "* ]] && ! built buildx; then pkgs+=(github.com/docker/buildx/cmd/buildx); fi
  ((${#pkgs[@]} > 0)) || return 0
  local tmp src req
  tmp=$(mktemp -d "$TMPS/plugins.XXXXXX")
  cd "$tmp"
  src=$(mod_dir "github.com/docker/compose/v2@$COMPOSE_VERSION")
  cp -r "$src" "$tmp/src"
  chmod -R u+w "$tmp/src"
  cd "$tmp/src"
  req=$(go_in_tmp list -m -f '{{.Version}}' github.com/docker/buildx)
  [[ $req == "$BUILDX_VERSION" ]] ||
    die "compose $COMPOSE_VERSION requires buildx $req: set BUILDX_VERSION=$req in $SELF"
  mkdir -p "$tmp/out"
  go_in_tmp build -mod=mod -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION -X github.com/docker/buildx/version.Version=$BUILDX_VERSION" \
    -o "$tmp/out/" "${pkgs[@]}"
  cd /
  if [[ -f $tmp/out/cmd ]]; then
    mkdir -p "$tmp/compose"
    mv "$tmp/out/cmd" "$tmp/compose/docker-compose"
    touch "$tmp/compose/.complete"
    rm -rf "$COMPOSE_DIR"
    mv "$tmp/compose" "$COMPOSE_DIR"
  fi
  if [[ -f $tmp/out/buildx ]]; then
    mkdir -p "$tmp/buildx"
    mv "$tmp/out/buildx" "$tmp/buildx/docker-buildx"
    touch "$tmp/buildx/.complete"
    rm -rf "$BUILDX_DIR"
    mv "$tmp/buildx" "$BUILDX_DIR"
  fi
  rm -rf "$tmp"
}
build_registry() {
  [[ -x $REGISTRY_DIR/bin/registry && -f $REGISTRY_DIR/.complete ]] && return 0
  local tmp
  tmp=$(mktemp -d "$TMPS/registry.XXXXXX")
  cd "$tmp"
  GOBIN="$tmp/out/bin" go_in_tmp install "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION"
  cd /
  touch "$tmp/out/.complete"
  rm -rf "$REGISTRY_DIR"
  mv "$tmp/out" "$REGISTRY_DIR"
  rm -rf "$tmp"
}
build_pebble() {
  [[ -x $PEBBLE_DIR/bin/pebble && -x $PEBBLE_DIR/bin/pebble-challtestsrv &&
    -f $PEBBLE_DIR/.complete ]] && return 0
  local tmp src
  tmp=$(mktemp -d "$TMPS/pebble.XXXXXX")
  cd "$tmp"
  GOBIN="$tmp/out/bin" go_in_tmp install \
    "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION" \
    "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$PEBBLE_VERSION"
  src=$(mod_dir "github.com/letsencrypt/pebble/v2@$PEBBLE_VERSION")
  cp -r "$src/test" "$tmp/out/test"
  chmod -R u+w "$tmp/out/test"
  cd /
  touch "$tmp/out/.complete"
  rm -rf "$PEBBLE_DIR"
  mv "$tmp/out" "$PEBBLE_DIR"
  rm -rf "$tmp"
}
built() { # NAME: is the cached build present?
  case $1 in
  compose) [[ -x $COMPOSE_DIR/docker-compose && -f $COMPOSE_DIR/.complete ]] ;;
  registry) [[ -x $REGISTRY_DIR/bin/registry && -f $REGISTRY_DIR/.complete ]] ;;
  pebble) [[ -x $PEBBLE_DIR/bin/pebble && -x $PEBBLE_DIR/bin/pebble-challtestsrv && -f $PEBBLE_DIR/.complete ]] ;;
  buildx) [[ -x $BUILDX_DIR/docker-buildx && -f $BUILDX_DIR/.complete ]] ;;
  plugins)
    local p
    for p in $PLUGINS; do built "$p" || return 1; done
    ;;
  esac
}

declare -A BG_PID=() BG_T0=()
bg_start() { # NAME: start a cached go build in the background if needed
  local name=$1
  built "$name" && return 0
  log "$name: building in the background (log $LOGS/build-$name.log)"
  : >"$LOGS/build-$name.log"
  rm -f "$LOGS/build-$name.us"
  setsid bash "$SELF" __build "$name" </dev/null >>"$LOGS/build-$name.log" 2>&1 8>&- 9>&- &
  BG_PID[$name]=$!
  BG_T0[$name]=$(now_us)
}
BG_US=0
bg_wait() { # NAME: wait for its build; BG_US = its wall time in µs (0 if none ran)
  local name=$1 rc=0
  BG_US=0
  if [[ -z ${BG_PID[$name]:-} ]]; then
    return 0
  fi
  wait "${BG_PID[$name]}" || rc=$?
  unset "BG_PID[$name]"
  if ((rc != 0)) || ! built "$name"; then
    tail_log "$LOGS/build-$name.log" 40
    die "$name: build failed (rc=$rc, log $LOGS/build-$name.log)"
  fi
  # the build's own wall time (it may have finished long before this wait)
  BG_US=$(cat "$LOGS/build-$name.us" 2>/dev/null || echo $(($(now_us) - BG_T0[$name])))
  log "$name: built in $(fmt_us "$BG_US")"
}
built_note() { ((BG_US == 0)) || printf ' (built in background)'; }
bg_kill_all() { # on failure: stop our own background builds by their group ids
  local name pid
  for name in "${!BG_PID[@]}"; do
    pid=${BG_PID[$name]}
    kill -TERM -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------- netns
# With DTX_ENGINE_NETNS=NAME the private engine and the registry run in that
# network namespace (nsenter --net, not `ip netns exec`, which remounts /sys
# and makes dockerd fail with "Devices cgroup isn't mounted"). Two dockerds
# in one namespace would share iptables' DOCKER chains (each removes the
# other's at start) and 127.0.0.1:5000; in namespaces of their own each has
# its own bridge, iptables and loopback. The docker socket is a file, so the
# CLI reaches the engine from anywhere; what talks to published ports or to
# the registry (the tests) runs in the namespace: nsenter --net=NETNS_PATH.
in_ns() { # CMD...: run CMD in the engine's network namespace
  "${NS_EXEC[@]}" "$@"
}
# in_named_netns: is this process in a namespace of `ip netns` (not the host's)?
in_named_netns() {
  local self f
  self=$(stat -L -c %i /proc/self/ns/net)
  for f in /var/run/netns/*; do
    [[ -e $f && $(stat -L -c %i "$f") == "$self" ]] && return 0
  done
  return 1
}
# netns_addr NET N: the Nth address of the IPv4 network NET (a.b.c.d/len)
netns_addr() {
  local ip=${1%/*} a b c d
  IFS=. read -r a b c d <<<"$ip"
  local n=$(((a << 24 | b << 16 | c << 8 | d) + $2))
  echo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))"
}
# netns_rules ACTION: add (-I/-A) or delete (-D) the host's rules that let the
# namespace out: forwarding both ways (in DOCKER-USER when a host engine made
# it, since its FORWARD policy is DROP) and masquerading. Each carries the
# comment "dtx-engine NAME".
netns_rules() {
  local name net veth chain
  read -r name net veth chain <"$NETNS_FILE"
  local tag=(-m comment --comment "dtx-engine $name")
  if [[ $1 == delete ]]; then
    iptables -D "$chain" -s "$net" "${tag[@]}" -j ACCEPT 2>/dev/null || true
    iptables -D "$chain" -d "$net" "${tag[@]}" -j ACCEPT 2>/dev/null || true
    iptables -t nat -D POSTROUTING -s "$net" ! -o "$veth" "${tag[@]}" -j MASQUERADE 2>/dev/null || true
    return 0
  fi
  iptables -I "$chain" -s "$net" "${tag[@]}" -j ACCEPT &&
    iptables -I "$chain" -d "$net" "${tag[@]}" -j ACCEPT &&
    iptables -t nat -A POSTROUTING -s "$net" ! -o "$veth" "${tag[@]}" -j MASQUERADE ||
    die "netns: iptables refused the rules for $net"
}
# netns_up: make the namespace when it does not exist: a veth pair from the
# host (the first address of DTX_ENGINE_NETNS_NET) to the namespace (the
# second), the default route through it, and the host's rules to go out.
# A namespace that exists (made by an earlier up, or by the caller) is used
# as it is.
netns_up() {
  [[ -n $NETNS ]] || return 0
  [[ -e $NETNS_PATH ]] && return 0
  ! in_named_netns ||
    die "network namespace $NETNS does not exist: make it from the host's namespace (run engine.sh up there first)"
  [[ $NETNS_NET =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/30$ ]] ||
    die "DTX_ENGINE_NETNS_NET=$NETNS_NET: give an IPv4 /30 such as 10.231.0.0/30"
  if [[ -n $(ip -4 route show to match "$(netns_addr "$NETNS_NET" 1)" | grep -v '^default') ]]; then
    die "DTX_ENGINE_NETNS_NET=$NETNS_NET overlaps a route of this host ($(ip -4 route show to match "$(netns_addr "$NETNS_NET" 1)" | grep -v '^default' | head -n1)): choose another /30"
  fi
  local veth="dtx-$NETNS" host ns chain=FORWARD
  veth=${veth:0:15}
  host=$(netns_addr "$NETNS_NET" 1)
  ns=$(netns_addr "$NETNS_NET" 2)
  iptables -n -L DOCKER-USER >/dev/null 2>&1 && chain=DOCKER-USER
  log "netns: making $NETNS ($ns, through $veth $host)"
  ip netns add "$NETNS"
  echo "$NETNS $NETNS_NET $veth $chain" >"$NETNS_FILE"
  ip link add "$veth" type veth peer name eth0 netns "$NETNS"
  ip addr add "$host/30" dev "$veth"
  ip link set "$veth" up
  in_ns ip link set lo up
  in_ns ip addr add "$ns/30" dev eth0
  in_ns ip link set eth0 up
  in_ns ip route add default via "$host"
  [[ $(cat /proc/sys/net/ipv4/ip_forward) == 1 ]] || {
    log "netns: turning on IPv4 forwarding (net.ipv4.ip_forward=1)"
    echo 1 >/proc/sys/net/ipv4/ip_forward
  }
  netns_rules add
}
# netns_down: remove what netns_up made (nothing when it made nothing).
netns_down() {
  [[ -f $NETNS_FILE ]] || return 0
  local name net veth chain
  read -r name net veth chain <"$NETNS_FILE"
  netns_rules delete
  ip link del "$veth" 2>/dev/null || true
  ip netns del "$name" 2>/dev/null || true
  rm -f "$NETNS_FILE"
  log "netns: removed $name"
}

# ---------------------------------------------------------------- dockerd
docker_answers() { timeout 10 docker version >/dev/null 2>&1; }
wait_docker() { # TIMEOUT_S [PID]
  local i
  for ((i = 0; i < $1 * 5; i++)); do
    docker_answers && return 0
    # until it execs dockerd, the process that becomes dockerd is its launcher
    if [[ -n ${2:-} ]] && ! pid_alive "$2" 'dockerd|setsid|nsenter'; then return 1; fi
    sleep 0.2
  done
  return 1
}
# storage_driver: overlay2 where this kernel mounts overlayfs in the state
# folder, else vfs. vfs copies every layer for each container: with the
# 320 MB offline base a container takes about 16 s to create, against under
# 1 s on overlay2. DTX_STORAGE_DRIVER forces one.
storage_driver() {
  if [[ -n ${DTX_STORAGE_DRIVER:-} ]]; then
    echo "$DTX_STORAGE_DRIVER"
    return
  fi
  local t="$STATE/.overlay-probe" ok=0
  rm -rf "$t"
  mkdir -p "$t"/{lower,upper,work,merged}
  echo probe >"$t/lower/f"
  if mount -t overlay overlay -o "lowerdir=$t/lower,upperdir=$t/upper,workdir=$t/work" "$t/merged" 2>/dev/null; then
    [[ $(cat "$t/merged/f" 2>/dev/null) == probe ]] && ok=1
    umount "$t/merged" 2>/dev/null || umount -l "$t/merged" 2>/dev/null || true
  fi
  rm -rf "$t"
  if ((ok)); then echo overlay2; else echo vfs; fi
}

start_dockerd() {
  local pid
  pid=$(pid_from "$DOCKERD_PIDFILE")
  if [[ -n $pid ]] && pid_alive "$pid" dockerd; then
    if wait_docker 60 "$pid"; then
      log "dockerd: reusing pid $pid"
      DOCKERD_NOTE=" (reused)"
      # An engine an older version of this script started keeps running
      # (others may be using it) until someone restarts it.
      local have want
      have=$(docker version --format '{{.Server.Version}}' 2>/dev/null || true)
      want=$(dockerd --version | sed -n 's/^Docker version \([^,]*\),.*/\1/p')
      if [[ $have != "$want" ]]; then
        log "dockerd: WARNING: the running engine is $have, not $want: run engine.sh down, then up, to switch"
        DOCKERD_NOTE=" (reused, $have)"
      fi
      return 0
    fi
    tail_log "$DOCKERD_LOG"
    die "dockerd pid $pid is alive but $SOCK does not answer (log $DOCKERD_LOG)"
  fi
  ((${#SOCK} < 100)) || die "socket path too long (${#SOCK} chars): $SOCK; set a shorter DTX_ENGINE_DIR"
  local driver
  driver=$(storage_driver)
  # One data folder per driver: images of one are invisible to the other.
  mkdir -p "$STATE/data-$driver" "$STATE/exec"
  log "dockerd: starting with $driver storage${NETNS:+ in network namespace $NETNS} (log $DOCKERD_LOG)"
  (
    cd /
    exec setsid "${NS_EXEC[@]}" dockerd \
      --data-root "$STATE/data-$driver" --exec-root "$STATE/exec" \
      -H "unix://$SOCK" --pidfile "$DOCKERD_PIDFILE" \
      --storage-driver "$driver" --ip 127.0.0.1
  ) </dev/null >>"$DOCKERD_LOG" 2>&1 8>&- 9>&- &
  pid=$!
  if ! wait_docker 60 "$pid"; then
    tail_log "$DOCKERD_LOG" 40
    die "dockerd did not answer on $SOCK within 60 s (log $DOCKERD_LOG)"
  fi
  DOCKERD_NOTE=""
}

# ---------------------------------------------------------------- registry
registry_answers() {
  [[ $(in_ns curl -s --noproxy '*' -o /dev/null -w '%{http_code}' --max-time 2 "http://$REGISTRY_ADDR/v2/" 2>/dev/null) == 200 ]]
}
start_registry() {
  local pid i cfg
  mkdir -p "$STATE/registry"
  cfg=$(
    cat <<EOF
# written by .ci/engine.sh
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
  )
  [[ -f $REG_CFG && $(<"$REG_CFG") == "$cfg" ]] || printf '%s\n' "$cfg" >"$REG_CFG"
  pid=$(pid_from "$REG_PIDFILE")
  if [[ -n $pid ]] && pid_alive "$pid" registry; then
    for ((i = 0; i < 50; i++)); do
      registry_answers && {
        log "registry: reusing pid $pid"
        REGISTRY_NOTE=" (reused)"
        return 0
      }
      sleep 0.2
    done
    die "registry pid $pid is alive but http://$REGISTRY_ADDR/v2/ does not answer (log $REG_LOG)"
  fi
  if registry_answers; then
    # Not ours (no pidfile): used as it is, and never stopped here.
    log "registry: one already answers on $REGISTRY_ADDR; using it"
    REGISTRY_NOTE=" (found running)"
    return 0
  fi
  log "registry: starting on $REGISTRY_ADDR (log $REG_LOG)"
  (
    cd /
    export OTEL_TRACES_EXPORTER=none
    exec setsid "${NS_EXEC[@]}" "$REGISTRY_DIR/bin/registry" serve "$REG_CFG"
  ) </dev/null >>"$REG_LOG" 2>&1 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$REG_PIDFILE"
  for ((i = 0; i < 150; i++)); do
    registry_answers && {
      REGISTRY_NOTE=""
      return 0
    }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  tail_log "$REG_LOG"
  die "registry did not answer on http://$REGISTRY_ADDR/v2/ (log $REG_LOG)"
}

# ---------------------------------------------------------------- base image
debian_mirror() {
  if [[ -n ${DTX_DEBIAN_MIRROR:-} ]]; then
    echo "$DTX_DEBIAN_MIRROR"
    return
  fi
  local m
  m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' \
    /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}
build_base_rootfs() {
  [[ -f $BASE_TAR ]] && return 0
  local tmp root mirror
  mirror=$(debian_mirror)
  tmp=$(mktemp -d "$TMPS/base.XXXXXX")
  root="$tmp/rootfs"
  log "base image: debootstrap $BASE_SUITE ($BASE_INCLUDE) from $mirror (log $LOGS/debootstrap.log)"
  if ! debootstrap --variant=minbase --include="$BASE_INCLUDE" "$BASE_SUITE" "$root" "$mirror" \
    >"$LOGS/debootstrap.log" 2>&1; then
    tail_log "$LOGS/debootstrap.log"
    safe_rmtree "$tmp"
    die "debootstrap failed (log $LOGS/debootstrap.log)"
  fi
  # make sure nothing debootstrap mounted is still there before packing
  awk -v d="$root/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" || true; done
  # rootfs tweaks (bump BASE_RECIPE when changing these)
  rm -f "$root/etc/nginx/sites-enabled/default"
  rm -f "$root"/var/cache/apt/archives/*.deb
  printf 'suite=%s\ninclude=%s\nmirror=%s\nrecipe=%s\nbuilt=%s\n' \
    "$BASE_SUITE" "$BASE_INCLUDE" "$mirror" "$BASE_RECIPE" "$(date -u +%FT%TZ)" >"$tmp/info.txt"
  tar --numeric-owner -C "$root" -cf "$tmp/rootfs.tar" .
  mkdir -p "$BASE_DIR"
  mv "$tmp/info.txt" "$BASE_DIR/info.txt"
  mv "$tmp/rootfs.tar" "$BASE_TAR.part"
  mv "$BASE_TAR.part" "$BASE_TAR"
  safe_rmtree "$tmp"
}
import_base() {
  local have
  have=$(docker image inspect -f '{{index .Config.Labels "dtx.base.key"}}' "$BASE_IMAGE" 2>/dev/null || true)
  if [[ $have == "$BASE_KEY" ]]; then
    BASE_NOTE=" (present)"
    return 0
  fi
  log "base image: docker import $BASE_IMAGE"
  docker import \
    --change "LABEL dtx.base.key=$BASE_KEY" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    "$BASE_TAR" "$BASE_IMAGE" >/dev/null
  BASE_NOTE=""
}

# ---------------------------------------------------------------- env
write_env() { # MODE: private or existing
  local path="$REGISTRY_DIR/bin:$PEBBLE_DIR/bin"
  [[ $1 == private ]] && path="$DEBS_DIR/usr/bin:$DEBS_DIR/usr/sbin:$path:$COMPOSE_DIR"
  local bases=""
  if [[ $BASES == offline ]]; then
    # Every base image the Dockerfiles and compose files take as a variable.
    bases=$(
      cat <<EOF
export DTX_BASE_IMAGE='$BASE_IMAGE'
export FRONTEND_BASE_IMAGE='$BASE_IMAGE'
export BACKEND_BASE_IMAGE='$BASE_IMAGE'
export NGINX_BASE_IMAGE='$BASE_IMAGE'
export BROWSER_BASE_IMAGE='$BASE_IMAGE'
export REDIS_IMAGE='$BASE_IMAGE'
EOF
    )
  fi
  local netns=""
  if [[ -n $NETNS ]]; then
    netns="# The engine, its published ports and the registry are in network namespace $NETNS:
# run what talks to them there (nsenter --net=$NETNS_PATH CMD).
export DTX_ENGINE_NETNS='$NETNS'"
  fi
  local content
  content=$(
    cat <<EOF
# written by .ci/engine.sh up ($1 engine, $BASES base images); source it or: eval "\$(.ci/engine.sh env)"
$netns
export DTX_ENGINE_DIR='$STATE'
export DTX_CACHE='$CACHE'
export DOCKER_HOST='$DOCKER_HOST'
export DTX_REGISTRY='$REGISTRY_ADDR'
$bases
export PEBBLE_TEST_DIR='$PEBBLE_DIR/test'
case ":\$PATH:" in *':$path:'*) ;; *) export PATH='$path'":\$PATH" ;; esac
EOF
  )
  [[ -f $ENV_FILE && $(<"$ENV_FILE") == "$content" ]] || printf '%s\n' "$content" >"$ENV_FILE"
}

# ---------------------------------------------------------------- commands
cleanup() {
  local rc=$?
  bg_kill_all
  if ((POLICY_RC_CREATED)); then as_root rm -f /usr/sbin/policy-rc.d; fi
  exit "$rc"
}

# own_folder DIR: DIR (made when missing) must be a real folder of this
# user that no one else can write: the engine's state folder holds env.sh,
# which CI sources, and the engine's socket. Under /tmp another user could
# have made it first and filled it.
own_folder() {
  local dir=$1 owner mode
  mkdir -p -m 0700 "$dir"
  [[ ! -L $dir ]] || die "$dir is a symbolic link: remove it, or set DTX_ENGINE_DIR to a folder of your own"
  read -r owner mode < <(stat -c '%u %a' "$dir")
  [[ $owner == "$(id -u)" ]] || die "$dir belongs to user $owner, not to you: remove it, or set DTX_ENGINE_DIR to a folder of your own"
  if (( 8#$mode & 8#022 )); then
    chmod go-w "$dir" || die "$dir is writable by others (mode $mode) and could not be fixed: chmod go-w $dir"
  fi
}

take_lock() {
  own_folder "$STATE"
  mkdir -p "$LOGS" "$CACHE" "$TMPS"
  exec 9>"$STATE/.lock"
  flock -w 1800 9 || die "could not get $STATE/.lock"
}
# take_cache_lock: `up` writes the cache (and clears its temp folder), so two
# ups of engines that share a cache (other DTX_ENGINE_DIRs) take turns.
take_cache_lock() {
  exec 8>"$CACHE/.lock"
  flock -n 8 && return 0
  log "waiting for another engine.sh up that uses $CACHE"
  flock -w 1800 8 || die "could not get $CACHE/.lock"
}

# existing_engine: true when an engine this script did not start answers at
# the caller's DOCKER_HOST (a GitHub runner's dockerd): then it is used as it
# is, and `down` leaves it running.
existing_engine() {
  [[ ${DTX_ENGINE:-} != private && -z $NETNS ]] || return 1
  [[ $CALLER_DOCKER_HOST != "unix://$SOCK" ]] || return 1
  local pid
  pid=$(pid_from "$DOCKERD_PIDFILE")
  if [[ -n $pid ]] && pid_alive "$pid" dockerd; then return 1; fi
  DOCKER_HOST=$CALLER_DOCKER_HOST timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}
compose_present() { timeout 20 docker compose version >/dev/null 2>&1; }
# buildx_fit: does the docker CLI find a buildx plugin compose can build
# with (>= BUILDX_MIN)?
buildx_fit() {
  local v
  v=$(timeout 20 docker buildx version 2>/dev/null | awk '{ print $2; exit }') || return 1
  v=${v#v}
  [[ $v =~ ^[0-9]+\.[0-9]+ ]] || return 1
  [[ $(printf '%s\n' "$BUILDX_MIN" "$v" | sort -V | head -n1) == "$BUILDX_MIN" ]]
}
# link_plugin NAME BINARY: make BINARY the docker CLI plugin NAME
# ($DOCKER_CONFIG/cli-plugins, which the CLI searches first).
link_plugin() {
  local plugdir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  mkdir -p "$plugdir"
  if [[ -e $plugdir/docker-$1 && ! -L $plugdir/docker-$1 ]]; then
    die "$plugdir/docker-$1 is a file of yours, not a link this script made: move it away (or update it) and run up again"
  fi
  if [[ $(readlink "$plugdir/docker-$1" 2>/dev/null || true) != "$2" ]]; then
    ln -sfn "$2" "$plugdir/docker-$1"
  fi
}

# official_images: the images the Dockerfiles and compose files default to
# (their ARG …_BASE_IMAGE= lines and ${REDIS_IMAGE:-…}), read from the files
# themselves so that this script never repeats them.
official_images() {
  sed -n 's/^ARG [A-Z_]*_BASE_IMAGE=\(.*\)$/\1/p' "$REPO/frontend/Dockerfile" "$REPO/backend/Dockerfile" "$REPO/nginx/Dockerfile"
  sed -n 's/.*\${REDIS_IMAGE:-\([^}]*\)}.*/\1/p' "$REPO/docker-compose.prod.yaml" | head -n 1
}
# pull_official: pull each official base image (kept when present); false
# as soon as one cannot be had.
pull_official() {
  local img
  for img in $(official_images); do
    docker image inspect "$img" >/dev/null 2>&1 && continue
    log "base images: docker pull $img"
    timeout 120 docker pull -q "$img" >>"$LOGS/pull.log" 2>&1 || {
      log "base images: cannot pull $img (log $LOGS/pull.log); using the offline stand-in"
      return 1
    }
  done
}

cmd_up() {
  local t_all t0 d name
  t_all=$(now_us)
  command -v go >/dev/null 2>&1 || die "go is not on PATH (needed to build compose, buildx, registry, pebble)"
  take_lock
  take_cache_lock
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  # leftovers of an interrupted run (we hold the lock: nobody else uses them)
  for d in "$TMPS"/*; do
    [[ -e $d ]] && safe_rmtree "$d"
  done

  local mode=private
  if existing_engine; then
    mode=existing
    export DOCKER_HOST=$CALLER_DOCKER_HOST
  else
    ((EUID == 0)) || die "starting the private engine needs root (dpkg, dockerd); or start Docker and point DOCKER_HOST at it"
    local running_ns=""
    [[ -s $NETNS_NAME_FILE ]] && read -r running_ns <"$NETNS_NAME_FILE"
    if [[ $running_ns != "$NETNS" ]] && pid_alive "$(pid_from "$DOCKERD_PIDFILE")" dockerd; then
      die "the engine of $STATE runs in network namespace ${running_ns:-(the host's)}, not ${NETNS:-(the host's)}: run engine.sh down first, or use another DTX_ENGINE_DIR"
    fi
  fi

  # Go builds (CPU bound) run in the background while apt, dockerd and
  # debootstrap (mostly network and disk) run here. The private engine gets
  # the pinned compose and buildx; an existing one only what it lacks (a
  # GitHub runner has both).
  local build_compose=0 build_buildx=0
  if [[ $mode == private ]] || ! compose_present; then build_compose=1; fi
  if [[ $mode == private ]] || ! buildx_fit; then build_buildx=1; fi
  PLUGINS=""
  if ((build_compose)); then PLUGINS+=" compose"; fi
  if ((build_buildx)); then PLUGINS+=" buildx"; fi
  export PLUGINS
  if [[ -n $PLUGINS ]]; then bg_start plugins; fi
  for name in registry pebble; do bg_start "$name"; done

  if [[ $mode == private ]]; then
    t0=$(now_us)
    find_debs
    [[ -n $DEBS_DIR ]] || fetch_debs
    record docker-debs "$(fmt_us $(($(now_us) - t0)))"
  fi

  t0=$(now_us)
  local -a missing=()
  local p
  for p in curl certbot nginx-light gettext-base busybox openssh-server; do # openssh-server: the swarm suite's sshd
    pkg_installed "$p" || missing+=("$p")
  done
  if [[ $mode == private ]]; then
    for p in iptables libsystemd0 libseccomp2; do # what dockerd and runc need besides libc
      pkg_installed "$p" || missing+=("$p")
    done
  fi
  if [[ $mode == private && ! -f $BASE_TAR ]] && ! command -v debootstrap >/dev/null 2>&1; then missing+=(debootstrap); fi
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
  record apt "$(fmt_us $(($(now_us) - t0)))"

  # engine
  t0=$(now_us)
  if [[ $mode == private ]]; then
    export PATH="$DEBS_DIR/usr/bin:$DEBS_DIR/usr/sbin:$PATH"
    netns_up
    if [[ -n $NETNS ]]; then echo "$NETNS" >"$NETNS_NAME_FILE"; else rm -f "$NETNS_NAME_FILE"; fi
    start_dockerd
    echo private >"$MODE_FILE"
    record dockerd "$(fmt_us $(($(now_us) - t0)))$DOCKERD_NOTE"
  else
    log "engine: using the one at $DOCKER_HOST (not started here, so never stopped here)"
    echo "existing $DOCKER_HOST" >"$MODE_FILE"
    record engine "existing"
  fi

  # base images: the official ones where the engine can pull them (an
  # existing engine: a GitHub runner's); the private engine of these machines
  # cannot, so it gets the offline Debian stand-in.
  t0=$(now_us)
  BASES=offline
  if [[ $mode == existing && ${DTX_OFFLINE_BASES:-} != 1 ]] && pull_official; then
    BASES=official
    record base-images "$(fmt_us $(($(now_us) - t0))) (official)"
  else
    [[ -f $BASE_TAR ]] || command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    build_base_rootfs
    import_base
    record base-image "$(fmt_us $(($(now_us) - t0)))$BASE_NOTE"
  fi

  # compose and buildx plugins
  if [[ -n $PLUGINS ]]; then
    bg_wait plugins
    ((BG_US == 0)) || record plugins "$(fmt_us "$BG_US") (built in background)"
  fi
  if ((build_compose)); then link_plugin compose "$COMPOSE_DIR/docker-compose"; fi
  local cv
  cv=$(docker compose version 2>&1) || die "docker compose version failed: $cv"
  if ((build_compose)); then
    [[ $cv == *"$COMPOSE_VERSION"* ]] || die "unexpected compose version: $cv"
    record compose "$COMPOSE_VERSION"
  else
    record compose "present (${cv##* })"
  fi
  if ((build_buildx)); then link_plugin buildx "$BUILDX_DIR/docker-buildx"; fi
  local bv
  bv=$(docker buildx version 2>&1) || die "docker buildx version failed: $bv"
  bv=$(awk '{ print $2; exit }' <<<"$bv")
  if ((build_buildx)); then
    [[ $bv == "$BUILDX_VERSION" ]] || die "unexpected buildx version $bv (another plugin first on the CLI's path?)"
    record buildx "$BUILDX_VERSION"
  else
    record buildx "present ($bv)"
  fi

  # registry
  bg_wait registry
  t0=$(now_us)
  start_registry
  record registry "$(fmt_us $((BG_US + $(now_us) - t0)))$(built_note)$REGISTRY_NOTE"

  # pebble (not started: the tests start it)
  bg_wait pebble
  t0=$(now_us)
  [[ -f $PEBBLE_DIR/test/certs/pebble.minica.pem ]] || die "pebble test certs missing in $PEBBLE_DIR/test"
  record pebble "$(fmt_us $((BG_US + $(now_us) - t0)))$(built_note)"

  write_env "$mode"
  local summary="" s
  for s in "${STEP_ORDER[@]}"; do summary+="${summary:+, }$s ${STEP_TIME[$s]}"; done
  log "up in $(fmt_us $(($(now_us) - t_all))): $summary; env: $ENV_FILE"
}

cmd_down() {
  take_lock
  stop_pidfile registry "$REG_PIDFILE" registry
  stop_pidfile dockerd "$DOCKERD_PIDFILE" dockerd
  # dockerd stops its managed containerd; make sure, by its pidfile
  local pid
  pid=$(pid_from "$CONTAINERD_PIDFILE")
  if [[ -n $pid ]] && pid_alive "$pid" containerd; then stop_pid containerd "$pid" containerd 10; fi
  netns_down
  rm -f "$NETNS_NAME_FILE"
  log "down (caches kept in $CACHE)"
}

cmd_env() {
  [[ -f $ENV_FILE ]] || die "$ENV_FILE not found: run $SELF up first"
  cat "$ENV_FILE"
}

cmd_status() {
  local rc=0 pid mode="" host=""
  if [[ -f $MODE_FILE ]]; then read -r mode host <"$MODE_FILE"; fi
  pid=$(pid_from "$DOCKERD_PIDFILE")
  find_debs
  [[ -n $DEBS_DIR ]] && PATH="$DEBS_DIR/usr/bin:$DEBS_DIR/usr/sbin:$PATH"
  if [[ $mode == existing ]] && DOCKER_HOST=$host docker_answers; then
    echo "engine:   existing, $host (not started by this script)"
  elif [[ -n $pid ]] && pid_alive "$pid" dockerd && docker_answers; then
    echo "dockerd:  running, pid $pid, $DOCKER_HOST${NETNS:+, network namespace $NETNS}"
  else
    echo "dockerd:  not running"
    rc=1
  fi
  pid=$(pid_from "$REG_PIDFILE")
  if [[ -n $pid ]] && pid_alive "$pid" registry && registry_answers; then
    echo "registry: running, pid $pid, http://$REGISTRY_ADDR"
  else
    echo "registry: not running"
    rc=1
  fi
  return "$rc"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
env) cmd_env ;;
status) cmd_status ;;
__build)
  # internal: one background go build (see bg_start)
  t0=$(now_us)
  "build_${2:?}"
  echo $(($(now_us) - t0)) >"$LOGS/build-$2.us"
  echo "$2: built in $(fmt_us $(($(now_us) - t0)))"
  ;;
*)
  echo "usage: $0 up|down|env|status" >&2
  exit 2
  ;;
esac
