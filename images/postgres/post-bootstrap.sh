#!/bin/sh
# tunestack-post-bootstrap URL: Patroni's post_bootstrap (its docs, "YAML configuration"), run once,
# as postgres, on the first primary of a new cluster, with the superuser's connection string. It
# does what the entrypoint does for a server of its own at every start: bootstrap.sql (roles,
# passwords from the secret files, grants; idempotent) and the last delivered roles.sql. The
# standbys copy all of it (pg_basebackup, then streaming).
set -eu
psql "$1" -v ON_ERROR_STOP=1 -q -X -v monitor_connections="${TUNESTACK_MONITOR_CONNECTIONS:-0}" \
  -f /usr/local/share/tunestack/bootstrap.sql
if [ -f /etc/tunestack/live/roles.sql ]; then
  psql "$1" -v ON_ERROR_STOP=1 -q -X -f /etc/tunestack/live/roles.sql
fi
