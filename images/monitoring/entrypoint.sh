#!/bin/sh
# tunestack's monitoring entrypoint: one server per container (its command), run as `prometheus`.
# The secrets (exporter credentials, a node exporter's TLS key) become 0600 and prometheus' own;
# a data volume (TUNESTACK_DATA_DIR), created root-owned by Docker, becomes prometheus' too.
set -eu
secrets=/etc/tunestack/secrets
if [ -d "$secrets" ]; then
  chown -R prometheus:prometheus "$secrets"; chmod 0700 "$secrets"; find "$secrets" -type f -exec chmod 0600 {} +
fi
if [ -n "${TUNESTACK_DATA_DIR:-}" ]; then
  mkdir -p "$TUNESTACK_DATA_DIR"
  chown -R prometheus:prometheus "$TUNESTACK_DATA_DIR"; chmod 0700 "$TUNESTACK_DATA_DIR"
fi
umask 077
exec setpriv --reuid=prometheus --regid=prometheus --init-groups "$@"
