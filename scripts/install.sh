#!/usr/bin/env bash
# Creates .venv and installs CKAN 2.12, the extension and what its features need.
#
#   scripts/install.sh          CKAN, the extension and its runtime dependencies
#   scripts/install.sh --test   the same plus what the test suite needs
#
# Idempotent: a second run only checks. As root, installs missing Debian packages
# (python3-venv, python3-dev, gcc, libpq-dev) with apt-get.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
CKAN_VERSION=2.12.0
WITH_TESTS=0
[ "${1:-}" = "--test" ] && WITH_TESTS=1

say() { printf 'install: %s\n' "$*" >&2; }
die() { printf 'install: ERROR: %s\n' "$*" >&2; exit 1; }

missing=()
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || missing+=(python3)
command -v gcc >/dev/null || missing+=(gcc)
command -v pg_config >/dev/null || missing+=(libpq-dev)   # psycopg2 always builds from source
if command -v "$PY" >/dev/null; then
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "Python 3.10 or newer is needed"
    "$PY" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
    [ -f "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ] || missing+=(python3-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing Debian packages: ${missing[*]}"
        # Waits (bounded) for another apt/dpkg run to release its lock.
        bash "$ROOT/scripts/os_packages.sh" "${missing[@]}" || die "could not install ${missing[*]}"
    else
        die "missing Debian packages: ${missing[*]} (install them, or run as root)"
    fi
fi

[ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PY" -m venv "$VENV"; }
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
# Skip the pip work when nothing changed since the last successful run.
stamp="$VENV/.dataclic-installed"
fingerprint="ckan=$CKAN_VERSION $(sha1sum "$ROOT/pyproject.toml" | cut -c1-12)"
if [ -f "$stamp" ] && grep -qx "$fingerprint tests=\(1\|$WITH_TESTS\)" "$stamp"; then
    say "already installed in $VENV"
    exit 0
fi
"${PIP[@]}" --upgrade pip setuptools wheel
if [ $WITH_TESTS = 1 ]; then
    say "installing CKAN $CKAN_VERSION with its test requirements"
    "${PIP[@]}" "ckan[requirements,dev]==$CKAN_VERSION"
    say "installing ckanext-dataclic (editable) with its test extras"
    "${PIP[@]}" -e "$ROOT[test]"
else
    say "installing CKAN $CKAN_VERSION"
    "${PIP[@]}" "ckan[requirements]==$CKAN_VERSION"
    say "installing ckanext-dataclic (editable) with ckanext-harvest and the grid readers"
    "${PIP[@]}" -e "$ROOT[harvest,grid]"
fi
echo "$fingerprint tests=$WITH_TESTS" > "$stamp"
say "done: $VENV"
