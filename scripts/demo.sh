#!/usr/bin/env bash
# Brings up a working portal with ckanext-dataclic on embedded defaults, at http://127.0.0.1:5000
#
#   scripts/demo.sh          install, start services, initialise, seed, serve (in the background)
#   scripts/demo.sh stop     stop the web server and worker it started (and any PostgreSQL /
#                            Redis that scripts/services.sh had to start)
#   scripts/demo.sh status   say what runs
#
# Everything it writes lives in .run/demo/ (git-ignored): ckan.ini, storage, logs, PIDs.
# DATACLIC_DEMO_PORT (5000), DATACLIC_DEMO_DIR (.run/demo) and DATACLIC_DEMO_DB (ckan_demo) move
# it; DATACLIC_DEMO_KEEP_SERVICES=1 makes `stop` leave PostgreSQL and Redis running.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="${DATACLIC_DEMO_DIR:-$ROOT/.run/demo}"
INI="$RUN/ckan.ini"
PORT=${DATACLIC_DEMO_PORT:-5000}
CKAN="$ROOT/.venv/bin/ckan"
HARVESTERS="dataclic_udata dataclic_ods dataclic_hubeau dataclic_georisques dataclic_wfs dataclic_datafair"
# Background processes: web server, RQ worker (extractions), harvest gather and fetch consumers.
PROCESSES="web worker gather fetch"
say() { printf 'demo: %s\n' "$*" >&2; }
die() { printf 'demo: ERROR: %s\n' "$*" >&2; exit 1; }

running() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

stop() {
    for name in $PROCESSES; do
        if running "$name"; then
            local pid; pid=$(cat "$RUN/$name.pid")
            kill "$pid"
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
            say "stopped $name (pid $pid)"
        fi
        rm -f "$RUN/$name.pid"
    done
    [ "${DATACLIC_DEMO_KEEP_SERVICES:-0}" = 1 ] || bash "$ROOT/scripts/services.sh" stop
}

status() {
    for name in $PROCESSES; do
        if running "$name"; then say "$name running (pid $(cat "$RUN/$name.pid"))"; else say "$name not running"; fi
    done
}

configure() {
    # shellcheck disable=SC1091
    source "$ROOT/.services/env"
    local db=${DATACLIC_DEMO_DB:-ckan_demo}
    if ! psql "$DATACLIC_PG_URL/postgres" -Atqc "select 1 from pg_database where datname = '$db'" | grep -q 1; then
        psql "$DATACLIC_PG_URL/postgres" -qc "create database $db" >/dev/null
    fi
    mkdir -p "$RUN/storage"
    if [ ! -f "$INI" ]; then
        "$CKAN" generate config "$INI" >/dev/null
    fi
    # Re-applied on every start so the URLs follow the services actually in use.
    "$CKAN" config-tool "$INI" \
        "sqlalchemy.url=$DATACLIC_PG_URL/$db" \
        "ckan.redis.url=$DATACLIC_REDIS_URL/0?socket_timeout=86400" \
        "ckan.site_url=http://127.0.0.1:$PORT" \
        "ckan.site_title=Données vertes — Bordeaux Métropole" \
        "ckan.site_description=Portail de démonstration de ckanext-dataclic" \
        "ckan.site_intro_text=Les données environnementales de Bordeaux Métropole : biodiversité, climat, énergie, risques, eau, occupation des sols et air, découpées pour le territoire à partir des sources nationales." \
        "ckanext.dataclic.default_perimeter=epci:243300316" \
        "ckan.max_resource_size=2048" \
        "ckan.storage_path=$RUN/storage" \
        "ckan.plugins=dataclic_pgsearch dataclic $HARVESTERS harvest activity" \
        "ckan.harvest.mq.type=redis" \
        "ckan.locales_offered=fr en" \
        "ckan.locale_default=fr" \
        "solr_url=http://127.0.0.1:8983/solr/not-used-with-dataclic-pgsearch" >/dev/null
}

initialise() {
    say "initialising the database"
    "$CKAN" -c "$INI" db init >/dev/null 2>&1 || "$CKAN" -c "$INI" db init
    "$CKAN" -c "$INI" db upgrade -p dataclic >/dev/null
    "$CKAN" -c "$INI" db upgrade -p harvest >/dev/null
    local pw_file="$RUN/admin-password"
    if [ ! -f "$pw_file" ]; then
        "$ROOT/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(12))' > "$pw_file"
    fi
    if ! "$CKAN" -c "$INI" user show admin 2>/dev/null | grep -q "name=admin"; then
        "$CKAN" -c "$INI" user add admin email=admin@example.org password="$(cat "$pw_file")" >/dev/null
    fi
    "$CKAN" -c "$INI" sysadmin add admin >/dev/null 2>&1 || true
    say "seeding demo content"
    "$ROOT/.venv/bin/python" "$ROOT/scripts/seed_demo.py" "$INI"
    "$CKAN" -c "$INI" search-index rebuild >/dev/null 2>&1 || "$CKAN" -c "$INI" search-index rebuild
}

open_log() {
    # open_log NAME: the log file of NAME, kept across restarts (appended to; rotated to
    # NAME.log.1 past 10 MB), with a line marking this start.
    local log="$RUN/$1.log"
    if [ -f "$log" ] && [ "$(stat -c %s "$log")" -gt 10485760 ]; then mv -f "$log" "$log.1"; fi
    echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) scripts/demo.sh starts $1 ===" >> "$log"
    echo "$log"
}

start_background() {
    # start_background NAME CKAN-ARGS...: run `ckan CKAN-ARGS` in the background once.
    local name=$1; shift
    if ! running "$name"; then
        nohup "$CKAN" -c "$INI" "$@" >> "$(open_log "$name")" 2>&1 &
        echo $! > "$RUN/$name.pid"
    fi
}

serve() {
    if ! running web; then
        nohup "$CKAN" -c "$INI" run -H 127.0.0.1 -p "$PORT" -r >> "$(open_log web)" 2>&1 &
        echo $! > "$RUN/web.pid"
    fi
    start_background worker dataclic worker   # warm: no fork and CKAN reload per job
    start_background gather harvester gather-consumer
    start_background fetch harvester fetch-consumer
    for _ in $(seq 120); do
        if "$ROOT/.venv/bin/python" - "$PORT" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/3/action/status_show", timeout=2)
PY
        then
            say "portal ready at http://127.0.0.1:$PORT"
            say "log in as: admin / $(cat "$RUN/admin-password")"
            say "logs in $RUN (web, worker, gather, fetch); stop with: bash scripts/demo.sh stop"
            return
        fi
        running web || die "the web server exited; see $RUN/web.log"
        sleep 0.5
    done
    die "the portal did not answer within 60 s; see $RUN/web.log"
}

case "${1:-start}" in
    start)
        bash "$ROOT/scripts/install.sh"
        bash "$ROOT/scripts/services.sh" start
        mkdir -p "$RUN"
        configure
        initialise
        serve
        ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 [start|stop|status]" ;;
esac
