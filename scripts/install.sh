#!/usr/bin/env bash
# Creates a virtual environment and installs CKAN, the extension and what its features need.
#
#   scripts/install.sh                      CKAN 2.12, the extension and its runtime dependencies
#   scripts/install.sh --test               the same plus what the test suite needs
#   scripts/install.sh --ckan 2.11 [--test] the same on CKAN 2.11 (also: CKAN_VERSION=2.11)
#
# Supported CKAN versions: 2.12 (2.12.0, in .venv) and 2.11 (2.11.6, in .venv-ckan2.11).
# A full version (e.g. --ckan 2.11.5) is accepted too. The environment's path is printed on
# the last line of standard output, so other scripts can use it.
#
# Idempotent: a second run only checks. As root, installs missing Debian packages
# (python3-venv, python3-dev, gcc, libpq-dev) with apt-get.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WITH_TESTS=0
CKAN_SERIES=${CKAN_VERSION:-2.12}

say() { printf 'install: %s\n' "$*" >&2; }
die() { printf 'install: ERROR: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --test) WITH_TESTS=1 ;;
        --ckan) [ $# -ge 2 ] || die "--ckan needs a version (2.11 or 2.12)"; CKAN_SERIES=$2; shift ;;
        --ckan=*) CKAN_SERIES=${1#--ckan=} ;;
        *) die "unknown option '$1' (expected --test, --ckan 2.11|2.12)" ;;
    esac
    shift
done

# Version series -> pinned release and environment directory.
case "$CKAN_SERIES" in
    2.12|2.12.0) CKAN_RELEASE=2.12.0; VENV="$ROOT/.venv" ;;
    2.11) CKAN_RELEASE=2.11.6; VENV="$ROOT/.venv-ckan2.11" ;;
    2.11.[0-9]*) CKAN_RELEASE=$CKAN_SERIES; VENV="$ROOT/.venv-ckan2.11" ;;
    *) die "unsupported CKAN version '$CKAN_SERIES' (supported: 2.11, 2.12)" ;;
esac

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
fingerprint="ckan=$CKAN_RELEASE $(sha1sum "$ROOT/pyproject.toml" | cut -c1-12)"
if [ -f "$stamp" ] && grep -qx "$fingerprint tests=\(1\|$WITH_TESTS\)" "$stamp"; then
    say "CKAN $CKAN_RELEASE already installed in $VENV"
    echo "$VENV"
    exit 0
fi
"${PIP[@]}" --upgrade pip setuptools wheel
if [ $WITH_TESTS = 1 ]; then
    say "installing CKAN $CKAN_RELEASE with its test requirements"
    "${PIP[@]}" "ckan[requirements,dev]==$CKAN_RELEASE"
    say "installing ckanext-dataclic (editable) with its test extras and the compat plugins (spatial, dcat, scheming)"
    "${PIP[@]}" -e "$ROOT[test,compat]"
else
    say "installing CKAN $CKAN_RELEASE"
    "${PIP[@]}" "ckan[requirements]==$CKAN_RELEASE"
    say "installing ckanext-dataclic (editable) with ckanext-harvest and the grid readers"
    "${PIP[@]}" -e "$ROOT[harvest,grid]"
fi
echo "$fingerprint tests=$WITH_TESTS" > "$stamp"
say "done: CKAN $CKAN_RELEASE in $VENV"
echo "$VENV"
