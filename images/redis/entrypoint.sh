#!/bin/sh
# tunestack's Redis entrypoint. The data volume (named by TUNESTACK_DATA_DIR, the rendered `dir`)
# is created root-owned by Docker: give it to redis, with files the queue's AOF writes 0600.
set -eu
secrets=/etc/tunestack/secrets
data="${TUNESTACK_DATA_DIR:?set TUNESTACK_DATA_DIR to the rendered dir}"
mkdir -p "$data"
chown -R redis:redis "$data"; chmod 0700 "$data"
if [ -d "$secrets" ]; then
  chown -R redis:redis "$secrets"; chmod 0700 "$secrets"; find "$secrets" -type f -exec chmod 0600 {} +
fi
umask 077
exec setpriv --reuid=redis --regid=redis --init-groups "$@"
