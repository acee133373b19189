#!/bin/sh
# tunestack's PgBouncer entrypoint: its auth file readable by PgBouncer only, then run unprivileged.
set -eu
secrets=/etc/tunestack/secrets
if [ -d "$secrets" ]; then
  chown -R postgres:postgres "$secrets"; chmod 0700 "$secrets"; find "$secrets" -type f -exec chmod 0600 {} +
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
