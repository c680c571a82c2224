#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite (arguments go to pytest).
#
#   scripts/test.sh                     every test
#   scripts/test.sh tests/extract -x    a part of it
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install.sh --test

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
if ! psql "$DATACLIC_PG_URL/postgres" -Atqc "select 1 from pg_database where datname = '$DB'" | grep -q 1; then
    psql "$DATACLIC_PG_URL/postgres" -qc "create database $DB" >/dev/null
fi
export CKAN_SQLALCHEMY_URL="$DATACLIC_PG_URL/$DB"
export CKAN_REDIS_URL="$DATACLIC_REDIS_URL/${DATACLIC_TEST_REDIS_DB:-1}"
exec .venv/bin/python -m pytest "$@"
