#!/usr/bin/env bash
# Usage: scripts/ensure_postgres.sh DBNAME
# Makes sure PostgreSQL answers on 127.0.0.1:5432 (starting the local 15/main cluster if
# it does not), then drops and creates DBNAME, owned by postgres, with PostGIS in it.
set -euo pipefail

die() { printf '\nensure_postgres: FAILED: %s\n\n' "$*" >&2; exit 1; }

db=${1:-}
[[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || die "usage: $0 DBNAME (lower-case letters, digits and _)"

export PGCONNECT_TIMEOUT=5 PGOPTIONS='-c client_min_messages=warning'

pg() { psql -h 127.0.0.1 -p 5432 -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
answers() { pg -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; }

if ! answers; then
    echo "ensure_postgres: PostgreSQL does not answer on 127.0.0.1:5432; starting cluster 15/main"
    command -v pg_ctlcluster >/dev/null || die "PostgreSQL 15 is not installed (apt-get install postgresql-15)"
    pg_ctlcluster --skip-systemctl-redirect 15 main start || true
    for _ in $(seq 30); do answers && break; sleep 1; done
    answers || die "PostgreSQL does not answer on 127.0.0.1:5432 as user postgres (trust auth expected)"
fi

# FORCE ends sessions a crashed earlier test run may have left connected.
pg -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
               -c "CREATE DATABASE \"$db\" OWNER postgres" \
    || die "could not create database $db"
pg -d "$db" -c 'CREATE EXTENSION IF NOT EXISTS postgis' \
    || die "PostGIS could not be created in $db (apt-get install postgresql-15-postgis-3)"
