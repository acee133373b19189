#!/bin/sh
# tunestack-restore-check PGBACKREST-RESTORE-OPTION…: in a throwaway container of the stack's own
# PostgreSQL image (no network, the repository volume read-only at /var/lib/pgbackrest, a new volume
# at /restore; or, with the repository on another host, the network and a client certificate),
# restore a backup set into /restore/pgdata with pgBackRest, then prove it: a scratch
# server with no TCP listener and no archiving (its new timeline must never reach the repository)
# replays to the target, leaves recovery, and every table of the app's database is counted.
# Prints "table|rows" lines, then "recovered in N s". The config arrives as PGBACKREST_CONF_TEXT
# (the stack's pgbackrest.conf: no secrets), the counting SQL as COUNT_TABLES.
set -eu
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
mkdir -p /etc/pgbackrest /restore/pgdata /var/lib/tunestack/postgres/pgbackrest
printf '%s\n' "$PGBACKREST_CONF_TEXT" > /etc/pgbackrest/pgbackrest.conf
chown postgres:postgres /restore /restore/pgdata /var/lib/tunestack/postgres /var/lib/tunestack/postgres/pgbackrest
chmod 0700 /restore/pgdata
# A repository on another host: the client certificate arrived in the secrets folder (never in
# the environment); pgBackRest reads its key as postgres.
if [ -d /etc/tunestack/secrets ]; then
  chown -R postgres:postgres /etc/tunestack/secrets; chmod 0700 /etc/tunestack/secrets
  find /etc/tunestack/secrets -type f -exec chmod 0600 {} +
fi
sock=$(as_postgres mktemp -d)
as_postgres pgbackrest --pg1-path=/restore/pgdata --log-level-console=warn "$@" restore
start=$(date +%s)
as_postgres pg_ctl -D /restore/pgdata -w -t 600 -l "$sock/server.log" \
  -o "-c listen_addresses= -c unix_socket_directories=$sock -c archive_mode=off -c shared_buffers=128MB -c huge_pages=off" \
  start >/dev/null || { cat "$sock/server.log" >&2; exit 1; }
i=0
until [ "$(as_postgres psql -h "$sock" -U postgres -d postgres -AtX -c 'SELECT pg_is_in_recovery()')" = f ]; do
  i=$((i + 1)); [ "$i" -le 600 ] || { echo "still in recovery after 600 s" >&2; tail -20 "$sock/server.log" >&2; exit 1; }
  sleep 1
done
printf '%s\n' "$COUNT_TABLES" | as_postgres psql -h "$sock" -U postgres -d app -AtX -v ON_ERROR_STOP=1
echo "recovered in $(( $(date +%s) - start )) s"
as_postgres pg_ctl -D /restore/pgdata -w -m fast stop >/dev/null
