#!/bin/sh
# tunestack-backup-repo: pgBackRest's repository server, on the host the stack keeps its backups
# on (issue #27). The repository volume, pgBackRest's work folder and the secrets belong to
# postgres and nobody else; then `pgbackrest server` serves the db host's archive-push and restores
# over TLS, admitting only the certificate the config's tls-server-auth names.
set -eu
secrets=/etc/tunestack/secrets
for dir in /var/lib/pgbackrest /var/lib/tunestack/postgres/pgbackrest /var/lib/tunestack/postgres/pgbackrest/log; do
  mkdir -p "$dir" && chown postgres:postgres "$dir" && chmod 0700 "$dir"
done
chown postgres:postgres /var/lib/tunestack/postgres && chmod 0700 /var/lib/tunestack/postgres
chown -R postgres:postgres "$secrets"; chmod 0700 "$secrets"; find "$secrets" -type f -exec chmod 0600 {} +
# The backup schedule (/etc/cron.d/tunestack-backup, rendered from the plan) where this container
# runs the stack's backups: cron runs each as postgres. It daemonises itself, so tini adopts it.
if [ -s /etc/cron.d/tunestack-backup ]; then cron; fi
exec setpriv --reuid=postgres --regid=postgres --init-groups pgbackrest server
