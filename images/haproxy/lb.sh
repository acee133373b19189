#!/bin/sh
# tunestack-lb: the load balancer's runtime controls, through HAProxy's admin socket inside this
# container (it is never on the network; rollouts reach it with `docker exec` over SSH).
#   weight NAME W [NAME W …]  set the weight of every server NAME or NAME-<slot> in backend app
#   servers                   the backend's servers: name, state (2 = up), weight
#   stat                      `show stat` as CSV (per-server counters)
#   rollout set|show|clear    the stack's rollout marker (key=value lines on stdin for set): kept on
#                             the live volume, so every `pulumi up`, from any checkout or CI, sees
#                             a rollout in progress (components/rollout.py)
set -eu
marker=/etc/tunestack/live/rollout
admin() {
  sock=$(sed -n 's/^ *stats socket \([^ ]*\).*/\1/p' /etc/tunestack/live/haproxy.cfg | head -1)
  [ -S "$sock" ] || { echo "tunestack-lb: no admin socket at '$sock'" >&2; exit 1; }
  printf '%s\n' "$1" | socat -t 5 stdio "unix-connect:$sock"
}
case "${1:-}" in
  rollout)
    case "${2:-}" in
      set) cat > "$marker.new" && chmod 0644 "$marker.new" && mv "$marker.new" "$marker" ;;
      show) if [ -f "$marker" ]; then cat "$marker"; fi ;;
      clear) rm -f "$marker" ;;
      *) echo "tunestack-lb: say rollout set, show or clear" >&2; exit 2 ;;
    esac ;;
  weight)
    shift
    names=$(admin "show servers state app" | awk 'NR > 2 && NF > 5 { print $4 }')
    while [ $# -ge 2 ]; do
      found=0
      for server in $names; do
        case "$server" in
          "$1"|"$1"-[0-9]*) admin "set weight app/$server $2" >/dev/null; found=1 ;;
        esac
      done
      [ $found = 1 ] || { echo "tunestack-lb: no server $1 in backend app" >&2; exit 1; }
      shift 2
    done
    echo "weights set" ;;
  servers) admin "show servers state app" | awk 'NR > 2 && NF > 5 { print $4, $6, $8 }' ;;
  stat) admin "show stat" ;;
  *) echo "tunestack-lb: say weight NAME W …, servers, stat or rollout" >&2; exit 2 ;;
esac
