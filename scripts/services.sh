#!/usr/bin/env bash
# Makes PostgreSQL and Redis available on 127.0.0.1 for the portal and the tests.
#
#   scripts/services.sh start   use the servers already listening on 127.0.0.1:5432 / :6379,
#                               or create and start throwaway ones under .services/
#   scripts/services.sh stop    stop only the servers this script started
#   scripts/services.sh env     print the connection URLs (after start)
#
# DATACLIC_OWN_SERVICES=1 starts throwaway servers even where shared ones listen;
# DATACLIC_SERVICES_DIR, DATACLIC_OWN_PG_PORT and DATACLIC_OWN_REDIS_PORT move them.
# Writes .services/env with DATACLIC_PG_URL (server URL, no database) and DATACLIC_REDIS_URL.
# Idempotent. As root, installs missing Debian packages with apt-get.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${DATACLIC_SERVICES_DIR:-$ROOT/.services}"
OWN_PG_PORT=${DATACLIC_OWN_PG_PORT:-54329}
OWN_REDIS_PORT=${DATACLIC_OWN_REDIS_PORT:-63799}
mkdir -p "$DIR"

say() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

apt_install() {
    # apt_install PACKAGE... : install Debian packages when root, else explain what is missing.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing Debian packages: $*"
        # Waits (bounded) for another apt/dpkg run to release its lock.
        bash "$ROOT/scripts/os_packages.sh" "$@" || die "could not install $*"
    else
        die "missing: $* (install these Debian packages, or run this script as root)"
    fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && echo "$d"
}

start_postgres() {
    command -v psql >/dev/null || apt_install postgresql-client
    if [ "${DATACLIC_OWN_SERVICES:-0}" != 1 ] && port_open 5432 && psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
        say "using PostgreSQL already listening on 127.0.0.1:5432"
        PG_URL="postgresql://postgres@127.0.0.1:5432"
        return
    fi
    [ "${DATACLIC_OWN_SERVICES:-0}" != 1 ] && port_open 5432 && say "a PostgreSQL on 127.0.0.1:5432 refuses user postgres without a password: starting our own"
    PG_URL="postgresql://postgres@127.0.0.1:$OWN_PG_PORT"
    if port_open "$OWN_PG_PORT"; then
        say "using our PostgreSQL on 127.0.0.1:$OWN_PG_PORT"
        return
    fi
    local bin; bin=$(pg_bin) || true
    if [ -z "$bin" ]; then apt_install postgresql; bin=$(pg_bin); fi
    [ -n "$bin" ] || die "PostgreSQL server binaries not found after install (package postgresql)"
    local data="$DIR/pgdata" run_as=()
    if [ "$(id -u)" = 0 ]; then
        # initdb refuses to run as root: the cluster belongs to the postgres user.
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres "$DIR"
        run_as=(runuser -u postgres --)
        "${run_as[@]}" test -x "$DIR" \
            || die "user postgres cannot reach $DIR (a parent folder is private): choose DATACLIC_SERVICES_DIR elsewhere"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        say "creating a throwaway PostgreSQL cluster in $data"
        "${run_as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    "${run_as[@]}" "$bin/pg_ctl" -D "$data" -l "$DIR/postgres.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $OWN_PG_PORT -k $DIR" start >/dev/null \
        || die "PostgreSQL did not start; see $DIR/postgres.log"
    echo "$bin" > "$DIR/pg_started_by_us"
    say "started PostgreSQL on 127.0.0.1:$OWN_PG_PORT"
}

start_redis() {
    if [ "${DATACLIC_OWN_SERVICES:-0}" != 1 ] && port_open 6379; then
        say "using Redis already listening on 127.0.0.1:6379"
        REDIS_URL="redis://127.0.0.1:6379"
        return
    fi
    REDIS_URL="redis://127.0.0.1:$OWN_REDIS_PORT"
    if port_open "$OWN_REDIS_PORT"; then
        say "using our Redis on 127.0.0.1:$OWN_REDIS_PORT"
        return
    fi
    command -v redis-server >/dev/null || apt_install redis-server
    redis-server --bind 127.0.0.1 --port "$OWN_REDIS_PORT" --daemonize yes \
        --pidfile "$DIR/redis.pid" --save "" --appendonly no --dir "$DIR" \
        --logfile "$DIR/redis.log" >/dev/null || die "Redis did not start; see $DIR/redis.log"
    for _ in $(seq 50); do port_open "$OWN_REDIS_PORT" && break; sleep 0.1; done
    port_open "$OWN_REDIS_PORT" || die "Redis did not start; see $DIR/redis.log"
    touch "$DIR/redis_started_by_us"
    say "started Redis on 127.0.0.1:$OWN_REDIS_PORT"
}

stop_all() {
    if [ -f "$DIR/pg_started_by_us" ]; then
        local bin run_as=()
        bin=$(cat "$DIR/pg_started_by_us")
        [ "$(id -u)" = 0 ] && run_as=(runuser -u postgres --)
        "${run_as[@]}" "$bin/pg_ctl" -D "$DIR/pgdata" -m fast -w stop >/dev/null 2>&1 || true
        rm -f "$DIR/pg_started_by_us"
        say "stopped our PostgreSQL"
    fi
    if [ -f "$DIR/redis_started_by_us" ]; then
        if [ -f "$DIR/redis.pid" ]; then
            local pid; pid=$(cat "$DIR/redis.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$DIR/redis_started_by_us" "$DIR/redis.pid"
        say "stopped our Redis"
    fi
}

case "${1:-start}" in
    start)
        start_postgres
        start_redis
        printf 'export DATACLIC_PG_URL=%s\nexport DATACLIC_REDIS_URL=%s\n' "$PG_URL" "$REDIS_URL" > "$DIR/env"
        ;;
    stop) stop_all ;;
    env) cat "$DIR/env" ;;
    *) die "usage: $0 start|stop|env" ;;
esac
