#!/bin/sh
# tunestack-live FILE < content: deliver Prometheus' or Alertmanager's configuration and reload the
# server in place (SIGHUP to the container's server, PID 1): its TSDB, its alerts' state and its
# silences stay. A file the server's own checker rejects is never installed; a reload the server
# reports as failed is undone. The container is never replaced for a changed target or rule.
set -eu
live=/etc/tunestack/live
file=${1:-}
case "$file" in
  prometheus.yml) check="promtool check config --syntax-only" ;;
  alerts.yml) check="promtool check rules" ;;
  alertmanager.yml) check="amtool check-config" ;;
  *) echo "tunestack-live: unknown file '$file'; allowed: prometheus.yml, alerts.yml, alertmanager.yml" >&2; exit 2 ;;
esac
: "${TUNESTACK_SELF:?set TUNESTACK_SELF to the server's own http://127.0.0.1:PORT or https://localhost:PORT}"
new="$live/.$file.new"
trap 'rm -f "$new"' EXIT
cat > "$new"
if ! out=$($check "$new" 2>&1); then
  echo "tunestack-live: the new $file is rejected; the running one is unchanged:" >&2
  echo "$out" >&2
  exit 1
fi
chown root:prometheus "$new" && chmod 0640 "$new"
# The reload's outcome, as the server reports it: its last successful reload's time moves. Over
# HTTPS (a stack across machines) verified against the stack's CA, by the name localhost.
ca=
case "$TUNESTACK_SELF" in https:*) ca=/etc/tunestack/tls/ca.crt ;; esac
stamp() {
  curl -fsS -m 5 ${ca:+--cacert "$ca"} "$TUNESTACK_SELF/metrics" 2>/dev/null \
    | sed -n 's/^[a-z]*_config_last_reload_success_timestamp_seconds \(.*\)$/\1/p'
}
before=$(stamp)
[ -f "$live/$file" ] && cp -p "$live/$file" "$live/.$file.old"
mv "$new" "$live/$file"
kill -HUP 1
i=0
while [ $i -lt 40 ]; do   # bounded: 10 s
  now=$(stamp)
  if [ -n "$now" ] && [ "$now" != "$before" ]; then rm -f "$live/.$file.old"; echo "$file reloaded"; exit 0; fi
  i=$((i + 1)); sleep 0.25
done
echo "tunestack-live: the server did not take the new $file (see its log); the previous one is back" >&2
[ -f "$live/.$file.old" ] && mv "$live/.$file.old" "$live/$file" && kill -HUP 1
exit 1
