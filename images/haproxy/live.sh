#!/bin/sh
# tunestack-live haproxy.cfg < content: deliver the load balancer's configuration (frontends, the
# app servers and their weights) and reload HAProxy in place: the master process starts new
# workers on the same listening sockets and the old ones finish their requests. The container is
# never replaced, so a rollout step costs no connection. A file HAProxy rejects is never loaded.
set -eu
live=/etc/tunestack/live
[ "${1:-}" = haproxy.cfg ] || { echo "tunestack-live: unknown file '${1:-}'; allowed: haproxy.cfg" >&2; exit 2; }
mkdir -p "$live"
new=$(mktemp /tmp/haproxy.cfg.XXXXXX)
trap 'rm -f "$new"' EXIT
cat > "$new"
if ! out=$(haproxy -c -q -f /usr/local/share/tunestack/haproxy-base.cfg -f "$new" 2>&1); then
  echo "tunestack-live: HAProxy rejects the new haproxy.cfg; the running one is unchanged:" >&2
  echo "$out" >&2
  exit 1
fi
chmod 0644 "$new"
# The servers' state as the running workers see it, for the new ones (base.cfg's server-state-file):
# resolved addresses and health carry over. Weights do not: each server's runtime weight is set back
# to its configured one (column 8 srv_uweight := column 9 srv_iweight), so after a reload the
# delivered file's weights rule, as the rollout engine expects. No socket yet (first delivery):
# nothing to keep.
state=/run/tunestack/haproxy-servers.state
sock=$(sed -n 's/^ *stats socket \([^ ]*\).*/\1/p' "$live/haproxy.cfg" 2>/dev/null | head -1)
if [ -n "$sock" ] && [ -S "$sock" ]; then
  printf 'show servers state\n' | socat -t 5 stdio "unix-connect:$sock" \
    | awk 'NR > 2 && NF >= 9 && $1 !~ /^#/ { $8 = $9 } { print }' > "$state.new" \
    && chown haproxy:haproxy "$state.new" && chmod 0600 "$state.new" && mv "$state.new" "$state" \
    || rm -f "$state.new"
fi
mv "$new" "$live/haproxy.cfg"
workers() { pgrep -P 1 -d ' ' haproxy || true; }
before=" $(workers) "
kill -USR2 1
# Bounded (10 s): the reload is done when a worker that was not there before is running.
i=0
while :; do
  for pid in $(workers); do
    case "$before" in *" $pid "*) ;; *) echo "haproxy.cfg reloaded"; exit 0 ;; esac
  done
  i=$((i + 1))
  if [ $i -ge 100 ]; then echo "tunestack-live: HAProxy started no new worker within 10 s" >&2; exit 1; fi
  sleep 0.1
done
