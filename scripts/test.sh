#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite (arguments go to pytest).
#
#   scripts/test.sh                     every test
#   scripts/test.sh tests/extract -x    a part of it
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install.sh --test
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
