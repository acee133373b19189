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
# Prometheus and Alertmanager read their configuration from the live folder (tunestack-live
# delivers it, on a volume of its own); until the first delivery, one that does nothing.
live=/etc/tunestack/live
mkdir -p "$live" && chown root:prometheus "$live" && chmod 0750 "$live"
case "${1:-}" in
  */prometheus)
    [ -s "$live/alerts.yml" ] || printf 'groups: []\n' > "$live/alerts.yml"
    [ -s "$live/prometheus.yml" ] || printf 'rule_files: [alerts.yml]\n' > "$live/prometheus.yml" ;;
  */prometheus-alertmanager)
    [ -s "$live/alertmanager.yml" ] || printf 'route: {receiver: none}\nreceivers: [{name: none}]\n' > "$live/alertmanager.yml" ;;
esac
for f in "$live"/*.yml; do if [ -f "$f" ]; then chown root:prometheus "$f"; chmod 0640 "$f"; fi; done
umask 077
exec setpriv --reuid=prometheus --regid=prometheus --init-groups "$@"
