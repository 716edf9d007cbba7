#!/bin/sh
# dtx-nginx: entrypoint of the dtx_website nginx image.
#
#   dtx-nginx run      render the site config, then run nginx in the foreground (default)
#   dtx-nginx render   pick the certificate and write /tmp/conf.d/default.conf from the template
#   dtx-nginx reload   render, test the config, reload nginx (after certbot renews)
#   dtx-nginx health   exit 0 if the nginx master process is alive
#   dtx-nginx CMD...   run CMD (e.g. `dtx-nginx nginx -T`)
#
# Environment (defaults in brackets):
#   DOMAIN [localhost], FRONTEND_UPSTREAM [frontend:3000],
#   BACKEND_UPSTREAM [backend:8000], HSTS_HEADER [empty: no header],
#   PUBLIC_HTTPS_PORT [443: the port the HTTP redirect points browsers to],
#   the security headers on every HTTPS answer (unset: the default; set
#   and empty: no such header):
#     CONTENT_TYPE_OPTIONS_HEADER [nosniff], FRAME_OPTIONS_HEADER [DENY],
#     CSP_HEADER [frame-ancestors 'none'],
#     REFERRER_POLICY_HEADER [strict-origin-when-cross-origin],
#   the limits per client address on the backend's paths (never on the
#   ACME challenge), answered 429 beyond them:
#     BACKEND_RATE_LIMIT [20r/s], BACKEND_RATE_BURST [40],
#     BACKEND_CONN_LIMIT [40]
# Each may come as a file instead: VAR_FILE=/run/secrets/VAR (a Swarm secret).
# render checks each before it substitutes it (no control characters, DOMAIN
# a DNS name, PUBLIC_HTTPS_PORT 1 to 65535) and stops with one line if not.
# The DTX_* paths below exist so the script can be tested outside the image.
set -eu

prog=dtx-nginx
template=${DTX_TEMPLATE:-/etc/nginx/templates/default.conf.template}
# Everything nginx writes is in /tmp: the one folder its unprivileged user
# can write both in the image and on the tmpfs of a read-only container.
site_conf=${DTX_SITE_CONF:-/tmp/conf.d/default.conf}
letsencrypt_dir=${DTX_LETSENCRYPT_DIR:-/etc/letsencrypt/live}
ssl_dir=${DTX_SSL_DIR:-/etc/nginx/ssl}
pid_file=${DTX_PID_FILE:-/tmp/nginx.pid} # nginx.conf's pid
nginx_conf=${DTX_NGINX_CONF:-}

# nginx, with the test configuration when DTX_NGINX_CONF is set. -e stderr:
# nginx opens its compiled-in error log before it reads the configuration,
# and that file (/var/log/nginx/error.log on the official image) is not
# writable by the unprivileged user nginx runs as.
run_nginx() {
    if [ -n "$nginx_conf" ]; then nginx -e stderr -c "$nginx_conf" "$@"; else nginx -e stderr "$@"; fi
}

say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { say "$*"; exit 1; }

# plain NAME VALUE: no control character (CR, LF, tab…) in VALUE: a line
# break would end an nginx directive or an HTTP header. The value is not
# repeated, since it would break the message's line too.
plain() {
    case $2 in
        *[[:cntrl:]]*) die "$1 contains a control character (CR, LF, tab…): remove it" ;;
    esac
}

# check NAME VALUE ALLOWED: VALUE must be non-empty and use only ALLOWED
# characters, so that nothing from the environment can inject nginx syntax.
check() {
    plain "$1" "$2"
    case $2 in
        '' | *[!$3]*) die "$1='$2' is not valid (allowed characters: $3)" ;;
    esac
}

# check_domain VALUE: a DNS name: labels of letters, digits and '-', 1 to 63
# characters, not starting or ending with '-', 253 characters at most.
check_domain() {
    check DOMAIN "$1" 'A-Za-z0-9.-'
    case $1 in
        .* | *. | *..* | -* | *- | *.-* | *-.*)
            die "DOMAIN='$1' is not a valid DNS name: dot-separated labels of letters, digits and '-', not starting or ending with '-'" ;;
    esac
    [ ${#1} -le 253 ] || die "DOMAIN is longer than 253 characters"
    rest=$1
    while [ -n "$rest" ]; do
        label=${rest%%.*}
        [ ${#label} -le 63 ] || die "DOMAIN has a label longer than 63 characters"
        case $rest in *.*) rest=${rest#*.} ;; *) rest= ;; esac
    done
}

# check_header NAME VALUE: a header value that cannot break out of the
# double-quoted add_header argument: no control character, '"', '\' or '$'.
check_header() {
    plain "$1" "$2"
    case $2 in
        *[\"\\\$]*) die "$1 must not contain '\"', '\\' or '\$'" ;;
    esac
}

# check_count NAME VALUE: a whole number from 1 to 99999.
check_count() {
    check "$1" "$2" '0-9'
    case $2 in
        0*) die "$1='$2' is not a count: use a whole number from 1 to 99999" ;;
    esac
    [ ${#2} -le 5 ] || die "$1='$2' is not a count: use a whole number from 1 to 99999"
}

# check_rate NAME VALUE: an nginx rate, N requests a second or a minute.
check_rate() {
    plain "$1" "$2"
    case $2 in
        [1-9]*r/s | [1-9]*r/m) check_count "$1" "${2%r/?}" ;;
        *) die "$1='$2' is not a rate: use Nr/s or Nr/m, for example 20r/s" ;;
    esac
}

# check_port NAME VALUE: a TCP port, 1 to 65535.
check_port() {
    check "$1" "$2" '0-9'
    case $2 in
        0*) die "$1='$2' is not a port: use a number from 1 to 65535" ;;
    esac
    [ ${#2} -le 5 ] && [ "$2" -le 65535 ] || die "$1='$2' is not a port: use a number from 1 to 65535"
}

# settings_from_files: each setting render reads may come as a file
# instead, VAR_FILE naming it (a Swarm stack mounts the values of a .local
# env file as secrets, /run/secrets/VAR, and sets VAR_FILE): VAR becomes the
# file's content (its final newlines dropped), over VAR itself. An
# unreadable file stops with one line naming the variable.
settings_from_files() {
    for var in DOMAIN FRONTEND_UPSTREAM BACKEND_UPSTREAM HSTS_HEADER PUBLIC_HTTPS_PORT \
        CONTENT_TYPE_OPTIONS_HEADER FRAME_OPTIONS_HEADER CSP_HEADER REFERRER_POLICY_HEADER \
        BACKEND_RATE_LIMIT BACKEND_RATE_BURST BACKEND_CONN_LIMIT; do
        eval "file=\${${var}_FILE-}"
        [ -n "$file" ] || continue
        [ -r "$file" ] && [ -f "$file" ] || die "${var}_FILE names $file, which is not a readable file"
        value=$(cat "$file") || die "${var}_FILE: cannot read $file"
        eval "$var=\$value"
    done
}

# blocked PATH...: stop at a folder nginx's user cannot enter or a file
# (a private key) it cannot read: a key that belongs to another user is a
# mistake to fix, never a reason to serve another certificate. (A symlink
# into a folder it cannot enter counts as there: certbot's live keys.)
blocked() {
    for path in "$@"; do
        if [ -d "$path" ]; then
            [ -x "$path" ] || die "$path: nginx's user (uid $(id -u)) cannot enter this folder: make it 0755 or 0711 (the tool does when a stack starts and after certbot; see docs/hardening.md)"
        elif [ -e "$path" ] || [ -L "$path" ]; then
            [ -r "$path" ] || die "$path: nginx's user (uid $(id -u)) cannot read this private key: it must belong to that user, mode 0600 (the tool makes it so when a stack starts and after certbot; see docs/hardening.md)"
        fi
    done
}

render() {
    settings_from_files
    DOMAIN=${DOMAIN:-localhost}
    FRONTEND_UPSTREAM=${FRONTEND_UPSTREAM:-frontend:3000}
    BACKEND_UPSTREAM=${BACKEND_UPSTREAM:-backend:8000}
    HSTS_HEADER=${HSTS_HEADER:-}
    PUBLIC_HTTPS_PORT=${PUBLIC_HTTPS_PORT:-443}
    CONTENT_TYPE_OPTIONS_HEADER=${CONTENT_TYPE_OPTIONS_HEADER-nosniff}
    FRAME_OPTIONS_HEADER=${FRAME_OPTIONS_HEADER-DENY}
    csp_default="frame-ancestors 'none'" # quotes kept: a variable, not a word
    CSP_HEADER=${CSP_HEADER-$csp_default}
    REFERRER_POLICY_HEADER=${REFERRER_POLICY_HEADER-strict-origin-when-cross-origin}
    BACKEND_RATE_LIMIT=${BACKEND_RATE_LIMIT:-20r/s}
    BACKEND_RATE_BURST=${BACKEND_RATE_BURST:-40}
    BACKEND_CONN_LIMIT=${BACKEND_CONN_LIMIT:-40}
    check_domain "$DOMAIN"
    check FRONTEND_UPSTREAM "$FRONTEND_UPSTREAM" 'A-Za-z0-9.:_-'
    check BACKEND_UPSTREAM "$BACKEND_UPSTREAM" 'A-Za-z0-9.:_-'
    check_port PUBLIC_HTTPS_PORT "$PUBLIC_HTTPS_PORT"
    check_header HSTS_HEADER "$HSTS_HEADER"
    check_header CONTENT_TYPE_OPTIONS_HEADER "$CONTENT_TYPE_OPTIONS_HEADER"
    check_header FRAME_OPTIONS_HEADER "$FRAME_OPTIONS_HEADER"
    check_header CSP_HEADER "$CSP_HEADER"
    check_header REFERRER_POLICY_HEADER "$REFERRER_POLICY_HEADER"
    check_rate BACKEND_RATE_LIMIT "$BACKEND_RATE_LIMIT"
    check_count BACKEND_RATE_BURST "$BACKEND_RATE_BURST"
    check_count BACKEND_CONN_LIMIT "$BACKEND_CONN_LIMIT"
    HTTPS_PORT_SUFFIX=
    [ "$PUBLIC_HTTPS_PORT" = 443 ] || HTTPS_PORT_SUFFIX=:$PUBLIC_HTTPS_PORT

    le_cert=$letsencrypt_dir/$DOMAIN/fullchain.pem
    le_key=$letsencrypt_dir/$DOMAIN/privkey.pem
    own_cert=$ssl_dir/fullchain.pem
    own_key=$ssl_dir/privkey.pem
    blocked "$letsencrypt_dir" "$letsencrypt_dir/$DOMAIN" "$le_key"
    if [ -r "$le_cert" ] && [ -r "$le_key" ]; then
        SSL_CERTIFICATE=$le_cert SSL_CERTIFICATE_KEY=$le_key
    else
        blocked "$ssl_dir" "$own_key"
        if [ -r "$own_cert" ] && [ -r "$own_key" ]; then
            SSL_CERTIFICATE=$own_cert SSL_CERTIFICATE_KEY=$own_key
        else
            die "no certificate for $DOMAIN: need $le_cert and $le_key (certbot) or $own_cert and $own_key"
        fi
    fi
    [ -r "$template" ] || die "template $template is missing, or nginx's user (uid $(id -u)) cannot read it"

    export DOMAIN FRONTEND_UPSTREAM BACKEND_UPSTREAM HSTS_HEADER HTTPS_PORT_SUFFIX SSL_CERTIFICATE SSL_CERTIFICATE_KEY \
        CONTENT_TYPE_OPTIONS_HEADER FRAME_OPTIONS_HEADER CSP_HEADER REFERRER_POLICY_HEADER \
        BACKEND_RATE_LIMIT BACKEND_RATE_BURST BACKEND_CONN_LIMIT
    mkdir -p "${site_conf%/*}" || die "cannot create ${site_conf%/*} for the site configuration"
    tmp=$site_conf.tmp
    # shellcheck disable=SC2016 # the list is for envsubst, not the shell
    envsubst '${DOMAIN} ${FRONTEND_UPSTREAM} ${BACKEND_UPSTREAM} ${SSL_CERTIFICATE} ${SSL_CERTIFICATE_KEY} ${HSTS_HEADER} ${HTTPS_PORT_SUFFIX}
        ${CONTENT_TYPE_OPTIONS_HEADER} ${FRAME_OPTIONS_HEADER} ${CSP_HEADER} ${REFERRER_POLICY_HEADER}
        ${BACKEND_RATE_LIMIT} ${BACKEND_RATE_BURST} ${BACKEND_CONN_LIMIT}' \
        <"$template" >"$tmp" || { rm -f "$tmp"; die "could not render $template"; }
    mv -f "$tmp" "$site_conf"
    say "using certificate $SSL_CERTIFICATE (key $SSL_CERTIFICATE_KEY) for $DOMAIN; wrote $site_conf"
}

reload() {
    backup=$site_conf.previous
    had_previous=0
    if [ -f "$site_conf" ]; then
        cp -f "$site_conf" "$backup"
        had_previous=1
    fi
    render
    if ! run_nginx -t -q; then
        if [ "$had_previous" = 1 ]; then
            mv -f "$backup" "$site_conf"
            die "new configuration is invalid; kept the previous $site_conf and did not reload"
        fi
        die "new configuration is invalid; did not reload"
    fi
    rm -f "$backup"
    old=$(workers)
    run_nginx -s reload
    await_reload "$old"
    say "reloaded nginx"
}

# workers: PIDs of the master's worker processes that still accept connections.
workers() {
    master=$(cat "$pid_file" 2>/dev/null) || return 0
    for pid in $(children "$master"); do
        case $(tr '\000' ' ' 2>/dev/null <"/proc/$pid/cmdline") in
            *'worker process is shutting down'*) ;;
            *'worker process'*) echo "$pid" ;;
        esac
    done
}

# children PID: the kernel's list where it keeps one, else a scan of /proc.
children() {
    if [ -r "/proc/$1/task/$1/children" ]; then
        cat "/proc/$1/task/$1/children"
        return
    fi
    for dir in /proc/[0-9]*; do
        [ "$(sed -n 's/^PPid:[[:space:]]*//p' "$dir/status" 2>/dev/null)" = "$1" ] && echo "${dir#/proc/}"
    done
    return 0
}

# await_reload PIDS: `nginx -s reload` only signals the master, which starts
# new workers and about 100 ms later tells the old ones to stop accepting.
# Until then a new connection may still get the old certificate, so wait for
# every old worker to be gone or shutting down. If they never are, the master
# rejected the new configuration.
await_reload() {
    [ -n "$1" ] || return 0
    tries=0
    while :; do
        still=$(workers)
        left=
        for pid in $1; do
            case " $(echo $still) " in *" $pid "*) left="$left $pid" ;; esac
        done
        [ -z "$left" ] && return 0
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || die "nginx did not take the new configuration within 10s (workers$left still serve the old one): see 'nginx -T' and the container log"
        sleep 0.1
    done
}

health() {
    [ -s "$pid_file" ] || exit 1
    pid=$(cat "$pid_file")
    case $pid in '' | *[!0-9]*) exit 1 ;; esac
    kill -0 "$pid" 2>/dev/null
}

if [ $# -eq 0 ]; then
    set -- run
fi
case $1 in
    run)
        render
        exec nginx -e stderr -g 'daemon off;'
        ;;
    render) render ;;
    reload) reload ;;
    health) health ;;
    -*) die "unknown option $1 (commands: run, render, reload, health)" ;;
    *) exec "$@" ;;
esac
