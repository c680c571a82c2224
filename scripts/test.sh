#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite (other arguments go to pytest).
#
#   scripts/test.sh                          every test, on CKAN 2.12 (.venv)
#   scripts/test.sh tests/extract -x         a part of it
#   scripts/test.sh --ckan 2.11 [pytest …]   on CKAN 2.11 (.venv-ckan2.11); also CKAN_VERSION=2.11
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ckan_series=${CKAN_VERSION:-2.12}
pytest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --ckan) [ $# -ge 2 ] || { echo "test: --ckan needs a version (2.11 or 2.12)" >&2; exit 2; }
                ckan_series=$2; shift ;;
        --ckan=*) ckan_series=${1#--ckan=} ;;
        *) pytest_args+=("$1") ;;
    esac
    shift
done
VENV="$(bash scripts/install.sh --test --ckan "$ckan_series" | tail -n 1)"

# OS tools some tests drive. As root they are installed from Debian; elsewhere the tests that
# need them skip and say which package is missing.
os_packages=()
if command -v docker >/dev/null && ! docker compose version >/dev/null 2>&1 \
        && ! command -v docker-compose >/dev/null; then
    os_packages+=(docker-compose)   # checks docker/compose.yml (no Docker engine needed)
fi
# The widget's browser test (tests/ui) drives Debian's Chromium through its driver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    os_packages+=(chromium chromium-driver)
fi
if [ ${#os_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test: installing Debian packages: ${os_packages[*]}" >&2
        # Waits (bounded, DATACLIC_APT_LOCK_WAIT) for another apt/dpkg run to release its lock.
        bash scripts/os_packages.sh "${os_packages[@]}" \
            || echo "test: could not install ${os_packages[*]}; the tests that need them will skip" >&2
    else
        echo "test: not root: not installing ${os_packages[*]}; the tests that need them will skip" >&2
    fi
fi
bash scripts/services.sh start
# shellcheck disable=SC1091
source .services/env

DB=${DATACLIC_TEST_DB:-ckan_test}
# Each CKAN version migrates its own database: a 2.12 schema is newer than 2.11's migrations.
case "$ckan_series" in 2.11*) DB="${DB}_ckan211" ;; esac
if ! psql "$DATACLIC_PG_URL/postgres" -Atqc "select 1 from pg_database where datname = '$DB'" | grep -q 1; then
    psql "$DATACLIC_PG_URL/postgres" -qc "create database $DB" >/dev/null
fi
export CKAN_SQLALCHEMY_URL="$DATACLIC_PG_URL/$DB"
export CKAN_REDIS_URL="$DATACLIC_REDIS_URL/${DATACLIC_TEST_REDIS_DB:-1}"
exec "$VENV/bin/python" -m pytest ${pytest_args[@]+"${pytest_args[@]}"}
