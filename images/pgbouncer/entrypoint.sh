#!/bin/sh
# tunestack's PgBouncer entrypoint: its auth file readable by PgBouncer only, then run unprivileged.
set -eu
secrets=/etc/tunestack/secrets
if [ -d "$secrets" ]; then
  chown -R postgres:postgres "$secrets"; chmod 0700 "$secrets"; find "$secrets" -type f -exec chmod 0600 {} +
fi
# Live settings (tunestack-live) are root's and readable; the include must exist before the first delivery.
mkdir -p /etc/tunestack/live && chmod 0755 /etc/tunestack/live
[ -f /etc/tunestack/live/pgbouncer.ini ] || : > /etc/tunestack/live/pgbouncer.ini
chmod 0644 /etc/tunestack/live/pgbouncer.ini
. /usr/local/lib/tunestack/admin.sh
mkdir -p /etc/tunestack/live/secrets && chown postgres:postgres /etc/tunestack/live/secrets
chmod 0700 /etc/tunestack/live/secrets
compose_auth_file
exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
