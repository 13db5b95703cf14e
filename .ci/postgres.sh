#!/usr/bin/env bash
# Installs and starts a local Postgres from Debian packages and exports PUSHWORKER_TEST_DATABASE_URL.
# Sourced by .ci/run under `set -euo pipefail`; safe to run more than once.

pw_pg_db=pushworker_test
pw_pg_user=pushworker
pw_pg_password=pushworker

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

pw_pg_version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
if ! pg_lsclusters -h | awk -v v="$pw_pg_version" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
  pg_createcluster "$pw_pg_version" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$pw_pg_version" '$1 == v && $2 == "main" && $4 == "online" { found = 1 } END { exit !found }'; then
  pg_ctlcluster "$pw_pg_version" main start
fi

for _ in $(seq 1 30); do
  if pg_isready -q -h 127.0.0.1 -p 5432; then break; fi
  sleep 1
done

# Administration goes through the local socket as the postgres superuser (peer authentication).
su postgres -c "psql -q -v ON_ERROR_STOP=1 -d postgres" >/dev/null <<SQL
SELECT 'CREATE ROLE ${pw_pg_user} LOGIN PASSWORD ''${pw_pg_password}'''
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${pw_pg_user}')\gexec
SELECT 'CREATE DATABASE ${pw_pg_db} OWNER ${pw_pg_user}'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '${pw_pg_db}')\gexec
SQL

export PUSHWORKER_TEST_DATABASE_URL="postgres://${pw_pg_user}:${pw_pg_password}@127.0.0.1:5432/${pw_pg_db}"
