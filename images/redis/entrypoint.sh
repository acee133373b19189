#!/bin/sh
# tunestack's Redis entrypoint. The data volume (named by TUNESTACK_DATA_DIR, the rendered `dir`)
# is created root-owned by Docker: give it to redis, with files the queue's AOF writes 0600.
# With queue replicas the same image runs each node (redis-node.sh) and each Sentinel.
set -eu
secrets=/etc/tunestack/secrets
data="${TUNESTACK_DATA_DIR:?set TUNESTACK_DATA_DIR to the rendered dir}"
mkdir -p "$data"
chown -R redis:redis "$data"; chmod 0700 "$data"
if [ -d "$secrets" ]; then
  chown -R redis:redis "$secrets"; chmod 0700 "$secrets"; find "$secrets" -type f -exec chmod 0600 {} +
fi
umask 077
# sentinel RENDERED SECRETS: Sentinel rewrites its file (what it learns: replicas, Sentinels,
# epochs), so it runs from its own copy on the data volume, made once from the rendered file and
# the passwords; later starts keep what it learned.
# The monitoring user's line alone follows the secrets at every start (monitoring turned on, or its
# password changed, after the Sentinel first ran); an ACL user line is Sentinel's to keep, like the rest.
if [ "${1:-}" = sentinel ]; then
  if [ ! -s "$data/sentinel.conf" ]; then
    cat "$2" "$3" > "$data/sentinel.conf"
  else
    { grep -v '^user tunestack-monitor ' "$data/sentinel.conf" || true; grep '^user tunestack-monitor ' "$3" || true; } \
      > "$data/sentinel.conf.new"
    mv "$data/sentinel.conf.new" "$data/sentinel.conf"
  fi
  chown redis:redis "$data/sentinel.conf"
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$data/sentinel.conf" --sentinel --daemonize no
fi
exec setpriv --reuid=redis --regid=redis --init-groups "$@"
