#!/bin/sh
# tunestack-live FILE < content: deliver one of PostgreSQL's live files to the running server and
# apply it without a restart (the Pulumi program runs this through `docker exec -i`).
#   postgresql.conf  every planned setting; the server's postgresql.conf includes it first and then
#                    restates the settings that need a restart, so a reload never half-applies one.
#                    A file PostgreSQL rejects (pg_file_settings.error) is put back and never loaded.
#   roles.sql        per-role timeouts (ALTER ROLE, idempotent), run at once and at every start;
#                    with monitoring, the monitoring login too (monitor-role.sql).
#   app-password     the app role's password (a rotation: see the Pulumi program's DatabasePassword),
#                    kept 0600 for postgres on the live volume, so a replaced container starts with
#                    it, and set at once with ALTER ROLE: sessions already open stay open.
# Root owns the folder and the files: the server reads them and can change none of them.
set -eu
live=/etc/tunestack/live
file="${1:-}"
case "$file" in
  postgresql.conf|roles.sql|app-password) ;;
  *) echo "tunestack-live: unknown file '$file'; allowed: postgresql.conf, roles.sql, app-password" >&2; exit 2 ;;
esac
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
# The running server's port and socket folder, from its own pid file (lines 4 and 5).
port=$(sed -n 4p "$PGDATA/postmaster.pid")
socket=$(sed -n 5p "$PGDATA/postmaster.pid")
sql() { as_postgres psql -h "$socket" -p "$port" -U postgres -d postgres -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
# A standby under Patroni keeps roles.sql and the app password for the day it leads, and changes no
# role: it is read-only, and the primary's ALTER ROLE reaches it through replication.
standby() { [ "$(sql -c "SELECT pg_is_in_recovery()")" = t ]; }

if [ "$file" = app-password ]; then
  umask 077
  mkdir -p "$live/secrets" && chown postgres:postgres "$live/secrets" && chmod 0700 "$live/secrets"
  new=$(mktemp "$live/secrets/.app-password.XXXXXX")
  cat > "$new"
  if [ ! -s "$new" ] || [ "$(wc -l < "$new")" -gt 0 ]; then
    rm -f "$new"; echo "tunestack-live: the app password must be one line without a line break" >&2; exit 2
  fi
  chown postgres:postgres "$new" && mv "$new" "$live/secrets/app-password"
  if standby; then echo "app password kept (a standby: the primary sets it)"; exit 0; fi
  # Read by psql itself (backticks), never on a command line; nothing of it in statistics or logs.
  sql <<'SQL'
SET pg_stat_statements.track = 'none';
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
\set app_password `cat /etc/tunestack/live/secrets/app-password`
ALTER ROLE app PASSWORD :'app_password';
\unset app_password
SQL
  echo "app password set"
  exit 0
fi

mkdir -p "$live"
new=$(mktemp "$live/.$file.XXXXXX")
cat > "$new"
chmod 0644 "$new"
if [ "$file" = roles.sql ]; then
  mv "$new" "$live/roles.sql"
  if standby; then echo "roles.sql kept (a standby: the primary applies it)"; exit 0; fi
  sql -f "$live/roles.sql"
  echo "roles.sql applied"
  # the monitoring login where its password file was uploaded (a cluster's primary: Patroni's
  # post_bootstrap made the roles once, before monitoring may have been turned on)
  if [ -s /etc/tunestack/secrets/monitor-password ]; then
    sql -v monitor_connections="${TUNESTACK_MONITOR_CONNECTIONS:-0}" -f /usr/local/share/tunestack/monitor-role.sql
    echo "monitoring login ensured"
  fi
  exit 0
fi
old=$(mktemp "$live/.previous.XXXXXX")
[ -f "$live/postgresql.conf" ] && cp -p "$live/postgresql.conf" "$old"
mv "$new" "$live/postgresql.conf"
errors=$(sql -c "SELECT sourcefile || ':' || sourceline || ' ' || name || ': ' || error FROM pg_file_settings WHERE error IS NOT NULL")
if [ -n "$errors" ]; then
  if [ -s "$old" ]; then mv "$old" "$live/postgresql.conf"; else rm -f "$live/postgresql.conf" "$old"; fi
  echo "tunestack-live: PostgreSQL rejects the new postgresql.conf; the running settings are unchanged:" >&2
  echo "$errors" >&2
  exit 1
fi
rm -f "$old"
before=$(sql -c "SELECT pg_conf_load_time()")
sql -c "SELECT pg_reload_conf()" >/dev/null
# The reload is a signal: wait (bounded, 10 s) until a new session sees the new load time.
i=0
while [ "$(sql -c "SELECT pg_conf_load_time()")" = "$before" ]; do
  i=$((i + 1))
  if [ $i -ge 100 ]; then echo "tunestack-live: PostgreSQL did not reload within 10 s" >&2; exit 1; fi
  sleep 0.1
done
restart=$(sql -c "SELECT string_agg(name, ', ') FROM pg_settings WHERE pending_restart")
if [ -n "$restart" ]; then
  echo "tunestack-live: reloaded, but these settings wait for a restart: $restart" >&2
  exit 1
fi
echo "postgresql.conf reloaded"
