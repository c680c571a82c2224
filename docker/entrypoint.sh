#!/usr/bin/env bash
# Container entrypoint: writes ckan.ini from the environment, then runs one role.
#
#   web      initialise/upgrade the database, then serve CKAN with gunicorn on :5000
#   worker   an RQ worker for background jobs (extractions, refreshes)
#   gather   the ckanext-harvest gather consumer
#   fetch    the ckanext-harvest fetch consumer
#   harvest-run  mark finished harvest jobs and start scheduled ones (run it periodically)
#   anything else is run as a command
#
# Settings: CKAN reads CKAN_SQLALCHEMY_URL, CKAN_SOLR_URL, CKAN_REDIS_URL, CKAN_SITE_URL,
# CKAN_STORAGE_PATH itself. Any other option is given as an environment variable whose name is
# the option with dots written as double underscores, e.g. CKAN__PLUGINS for ckan.plugins or
# CKANEXT__DATACLIC__DEFAULT_PERIMETER for ckanext.dataclic.default_perimeter.
set -euo pipefail

if [ ! -f "$CKAN_INI" ]; then
    ckan generate config "$CKAN_INI" >/dev/null
fi
settings=()
while IFS='=' read -r name value; do
    case "$name" in
        CKAN__*|CKANEXT__*)
            key=$(printf '%s' "$name" | sed 's/__/./g' | tr '[:upper:]' '[:lower:]')
            settings+=("$key=$value") ;;
    esac
done < <(env)
[ ${#settings[@]} -gt 0 ] && ckan config-tool "$CKAN_INI" "${settings[@]}" >/dev/null

wait_for_db() {
    for _ in $(seq 60); do
        pg_isready -d "$CKAN_SQLALCHEMY_URL" >/dev/null 2>&1 && return
        sleep 1
    done
    echo "entrypoint: the database at CKAN_SQLALCHEMY_URL does not answer" >&2
    exit 1
}

case "${1:-web}" in
    web)
        wait_for_db
        ckan -c "$CKAN_INI" db init
        ckan -c "$CKAN_INI" db upgrade -p harvest
        ckan -c "$CKAN_INI" db upgrade -p dataclic || true
        exec gunicorn --bind 0.0.0.0:5000 --workers "${GUNICORN_WORKERS:-4}" \
            --paste "$CKAN_INI" --timeout 120
        ;;
    worker) wait_for_db; exec ckan -c "$CKAN_INI" dataclic worker ;;
    gather) wait_for_db; exec ckan -c "$CKAN_INI" harvester gather-consumer ;;
    fetch) wait_for_db; exec ckan -c "$CKAN_INI" harvester fetch-consumer ;;
    harvest-run)
        wait_for_db
        while true; do ckan -c "$CKAN_INI" harvester run || true; sleep "${HARVEST_RUN_INTERVAL:-300}"; done
        ;;
    *) exec "$@" ;;
esac
