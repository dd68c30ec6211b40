#!/usr/bin/env bash
# Installs TimescaleDB's Apache-2 edition into the machine's PostgreSQL 15,
# built from Debian's `timescaledb` source package (suite trixie), so that the
# tests can run the `timescale-apache` storage tier. The build is cached under
# FLOWGUARD_CACHE_DIR and reused on the next run.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
CACHE_DIR=${FLOWGUARD_CACHE_DIR:-/var/cache/flowguard}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

log() { printf 'provision-timescaledb: %s\n' "$*" >&2; }

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

already_installed() {
    [ -f "$($PG_CONFIG --sharedir)/extension/timescaledb.control" ] \
        && ls "$($PG_CONFIG --pkglibdir)"/timescaledb-*.so >/dev/null 2>&1
}

add_source_suite() {
    # The mirror is whichever one this machine already uses for Debian.
    local list=/etc/apt/sources.list.d/flowguard-trixie-src.sources
    [ -f "$list" ] && return 0
    local uri
    uri=$(grep -rhoE '^(URIs:[[:space:]]*|deb[[:space:]]+)[^[:space:]]+/debian/?([[:space:]]|$)' \
            /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true)
    uri=$(printf '%s\n' "$uri" | head -n 1 | sed -E 's/^(URIs:|deb)[[:space:]]*//; s/[[:space:]]*$//')
    if [ -z "$uri" ]; then
        log "no Debian mirror found in the apt sources"
        exit 1
    fi
    log "adding deb-src for trixie from the configured mirror"
    $SUDO tee "$list" >/dev/null <<SRC
Types: deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    $SUDO apt-get update -qq
}

build_into_cache() {
    local stage=$1 work
    work=$(mktemp -d)
    add_source_suite
    log "fetching the timescaledb source package"
    (cd "$work" && apt-get source -qq --download-only timescaledb >/dev/null \
        && dpkg-source -x --no-check ./*.dsc src >/dev/null)
    log "building the Apache-2 edition against PostgreSQL $PG_MAJOR"
    cmake -S "$work/src" -B "$work/build" -DPG_CONFIG="$PG_CONFIG" \
        -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
        -DWARNINGS_AS_ERRORS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
    make -C "$work/build" -j"$(nproc)" >/dev/null
    rm -rf "$stage.tmp"
    make -C "$work/build" install DESTDIR="$stage.tmp" >/dev/null
    mv "$stage.tmp" "$stage"
    rm -rf "$work"
}

main() {
    apt_install "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" \
        cmake make gcc dpkg-dev libssl-dev libkrb5-dev
    if already_installed; then
        log "already installed in $($PG_CONFIG --pkglibdir)"
        return 0
    fi
    local version stage
    version=$($PG_CONFIG --version | tr -c 'A-Za-z0-9.\n' '_')
    stage="$CACHE_DIR/timescaledb-apache-$version"
    $SUDO mkdir -p "$CACHE_DIR"
    if [ ! -d "$stage" ]; then
        build_into_cache "$stage"
    else
        log "using the cached build in $stage"
    fi
    $SUDO cp -a "$stage/." /
    already_installed
    log "installed"
}

main "$@"
