#!/usr/bin/env bash
# Installs Debian packages some tests drive (Chromium and its driver, docker-compose), as root.
#
#   scripts/os_packages.sh PACKAGE...
#
# Another apt or dpkg run on the machine (unattended upgrades, another test suite installing
# the same packages) holds dpkg's lock for a while: this script waits for it, up to
# DATACLIC_APT_LOCK_WAIT seconds (default 900), instead of failing at once and leaving the
# tests that need the packages to skip. Exits 0 when the packages are installed, 1 when they
# could not be (the reason is printed), 2 on misuse.
set -uo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 PACKAGE..." >&2
    exit 2
fi
WAIT=${DATACLIC_APT_LOCK_WAIT:-900}
LOCKS=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock
       /var/cache/apt/archives/lock)
deadline=$(( $(date +%s) + WAIT ))
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

remaining() {
    local left=$(( deadline - $(date +%s) ))
    [ "$left" -gt 0 ] && echo "$left" || echo 0
}

# Another process holds one of apt's or dpkg's locks (fuser: it has the file open).
locked() {
    command -v fuser >/dev/null || return 1
    local lock
    for lock in "${LOCKS[@]}"; do
        [ -e "$lock" ] && fuser "$lock" >/dev/null 2>&1 && return 0
    done
    return 1
}

wait_for_locks() {
    local said=0
    while locked; do
        if [ "$(remaining)" -eq 0 ]; then
            return 1
        fi
        if [ "$said" = 0 ]; then
            echo "os_packages: another apt/dpkg run holds the lock; waiting up to $(remaining) s" >&2
            said=1
        fi
        sleep 1
    done
    return 0
}

apt_get() {
    # DPkg::Lock::Timeout: apt itself waits for dpkg's lock if it was taken since our check.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$(remaining)" \
        -y -q "$@" >"$log" 2>&1
}

lock_error() {
    grep -qiE "could not get lock|unable to acquire the dpkg|unable to lock" "$log"
}

updated=0
while :; do
    wait_for_locks || { echo "os_packages: apt/dpkg still locked after ${WAIT} s" >&2; exit 1; }
    if apt_get install --no-install-recommends "$@"; then
        exit 0
    fi
    if lock_error; then
        [ "$(remaining)" -gt 0 ] && continue
        echo "os_packages: apt/dpkg still locked after ${WAIT} s" >&2
        exit 1
    fi
    if [ "$updated" = 0 ]; then
        # Package lists may be missing or stale: refresh them once, then try again.
        wait_for_locks || { echo "os_packages: apt/dpkg still locked after ${WAIT} s" >&2; exit 1; }
        if apt_get update || ! lock_error; then
            updated=1
        fi
        continue
    fi
    echo "os_packages: could not install $*:" >&2
    tail -n 5 "$log" >&2
    exit 1
done
