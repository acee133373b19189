#!/bin/sh
# tunestack's PostgreSQL entrypoint.
# Every start: the data volume belongs to postgres; secrets are 0600 and its own.
# First start: initdb with no trust (peer locally, SCRAM over the network), superuser password
# from a file. Then, at every start, before the server listens on the network: bootstrap.sql
# (roles, passwords read from the secret files, grants) and the last delivered roles.sql (per-role
# timeouts), so a rotated password always reaches the roles, idempotently. Later settings and
# timeouts arrive while running, through tunestack-live, without a restart.
# With standbys (postgres.replicas) the same image runs two other programs:
#   etcd ARGS…       a member of the consensus store, as the etcd user, its data on the volume;
#   patroni FILE     Patroni, which makes the cluster (initdb on the first node, pg_basebackup for
#                    the others; tunestack-post-bootstrap on the first primary) and runs the server.
set -eu
secrets=/etc/tunestack/secrets
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ "${1:-}" = etcd ]; then
  data=/var/lib/tunestack/etcd
  mkdir -p "$data" && chown etcd:etcd "$data" && chmod 0700 "$data"
  # its TLS key (members on several machines): etcd's own, 0600
  if [ -d "$secrets" ]; then
    chown -R etcd:etcd "$secrets"; chmod 0700 "$secrets"; find "$secrets" -type f -exec chmod 0600 {} +
  fi
  exec setpriv --reuid=etcd --regid=etcd --init-groups "$@"
fi
mkdir -p "$(dirname "$PGDATA")" /var/run/postgresql
chown postgres:postgres "$(dirname "$PGDATA")" /var/run/postgresql
chmod 0700 "$(dirname "$PGDATA")"
# pgBackRest (when the stack archives): the repository volume and its spool, log and lock folder,
# the server's own and nobody else's.
for dir in /var/lib/pgbackrest "$(dirname "$PGDATA")/pgbackrest" "$(dirname "$PGDATA")/pgbackrest/log"; do
  mkdir -p "$dir" && chown postgres:postgres "$dir" && chmod 0700 "$dir"
done
# Live files (tunestack-live): root's, readable by the server, kept on their own volume.
mkdir -p /etc/tunestack/live && chown root:root /etc/tunestack/live && chmod 0755 /etc/tunestack/live
if [ -d "$secrets" ]; then
  chown -R postgres:postgres "$secrets"; chmod 0700 "$secrets"; find "$secrets" -type f -exec chmod 0600 {} +
fi
# The app role's password arrives live (tunestack-live app-password) and stays on the live volume;
# until its first delivery the role gets a random one that nobody knows.
mkdir -p /etc/tunestack/live/secrets && chown postgres:postgres /etc/tunestack/live/secrets
chmod 0700 /etc/tunestack/live/secrets
if [ -s /etc/tunestack/live/secrets/app-password ]; then
  cp /etc/tunestack/live/secrets/app-password "$secrets/app-password"
else
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secrets/app-password"
fi
chown postgres:postgres "$secrets/app-password" && chmod 0600 "$secrets/app-password"
if [ "${1:-}" = patroni ]; then
  # Patroni's passwords: from the secret files into its environment only (Patroni docs,
  # "Environment configuration settings"), never its YAML or a command line.
  pw() { cat "$secrets/$1"; }
  PATRONI_SUPERUSER_PASSWORD=$(pw postgres-password) PATRONI_REPLICATION_PASSWORD=$(pw replication-password)
  PATRONI_REWIND_PASSWORD=$(pw rewind-password) PATRONI_RESTAPI_PASSWORD=$(pw patroni-api-password)
  PATRONI_ETCD3_USERNAME=patroni PATRONI_ETCD3_PASSWORD=$(pw etcd-patroni-password)
  # libpq (pg_basebackup, pg_rewind) looks for client certificates under $HOME: postgres' own, not root's
  HOME=$(getent passwd postgres | cut -d: -f6)
  export HOME PATRONI_SUPERUSER_PASSWORD PATRONI_REPLICATION_PASSWORD PATRONI_REWIND_PASSWORD PATRONI_RESTAPI_PASSWORD \
    PATRONI_ETCD3_USERNAME PATRONI_ETCD3_PASSWORD
elif [ ! -s "$PGDATA/PG_VERSION" ]; then
  as_postgres initdb -D "$PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
    --pwfile="$secrets/postgres-password" -E UTF8 >/dev/null
fi
if [ "${1:-}" != patroni ]; then
  # A private server: no TCP, its socket in a folder only postgres can enter.
  sock=$(as_postgres mktemp -d)
  as_postgres pg_ctl -D "$PGDATA" -w -t 120 -l "$sock/bootstrap.log" \
    -o "-c config_file=/etc/tunestack/postgresql.conf -c listen_addresses= -c unix_socket_directories=$sock" start >/dev/null
  as_postgres psql -h "$sock" -U postgres -d postgres -v ON_ERROR_STOP=1 -q -X \
    -v monitor_connections="${TUNESTACK_MONITOR_CONNECTIONS:-0}" -f /usr/local/share/tunestack/bootstrap.sql
  if [ -f /etc/tunestack/live/roles.sql ]; then
    as_postgres psql -h "$sock" -U postgres -d postgres -v ON_ERROR_STOP=1 -q -X -f /etc/tunestack/live/roles.sql
  fi
  as_postgres pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
  rm -rf "$sock"
fi
# The database agent, when the stack's repository is on another host: pgBackRest's TLS server, which
# that host's backups read the data folder and the socket through. Detached so that tini adopts it,
# never the postmaster (which would take an unknown child's exit for a crashed backend and restart
# every session); restarted when it exits, its output in the container's log.
if grep -q '^tls-server-address=' /etc/pgbackrest/pgbackrest.conf 2>/dev/null; then
  ( setsid sh -c 'while :; do setpriv --reuid=postgres --regid=postgres --init-groups pgbackrest server
                  echo "pgbackrest server exited ($?); starting it again in 2 s" >&2; sleep 2; done' </dev/null & )
fi
# The backup schedule (/etc/cron.d/tunestack-backup, rendered from the plan) where this container
# runs the stack's backups: cron runs each as postgres. It daemonises itself, so tini adopts it.
if [ -s /etc/cron.d/tunestack-backup ]; then cron; fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
