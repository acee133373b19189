#!/bin/sh
# One node of stack local-ha's queue, rendered by tunestack: started as a replica of the master
# the Sentinels name when they name another node, else as a master (the first start, or no Sentinel
# answering: `tunestack up` then points the other nodes at it). Of several answers the one with
# the highest config-epoch wins: right after a failover only the Sentinel that led it knows the new
# master. While a Sentinel sees this node as a master that is objectively down, or failing over,
# the node waits (at most 30 s) for the failover to end. So a node that comes back during
# or after a failover never serves writes as a stale master, which its resynchronisation as a
# replica would then throw away.
# usage: redis-node.sh SERVER CLI CONF SELF_ADDRESS SELF_PORT SENTINEL_PASSWORD_FILE SENTINEL...
set -eu
server=$1 cli=$2 conf=$3 self_addr=$4 self_port=$5 password_file=$6
shift 6
REDISCLI_AUTH=$(cat "$password_file")
export REDISCLI_AUTH

ask() {   # sets best (the address with the highest config-epoch) and failing (1: this node's failover runs)
  best_epoch=-1 best="" failing=0
  for sentinel in "$@"; do
    answer=$(timeout 2 "$cli" --no-auth-warning -h "${sentinel%:*}" -p "${sentinel##*:}" \
             SENTINEL MASTER local-ha-queue 2>/dev/null) || continue
    # SENTINEL MASTER: key and value on alternate lines
    found=$(printf '%s\n' "$answer" | awk 'NR % 2 == 1 { key = $0; next }
      key == "ip" { ip = $0 } key == "port" { port = $0 } key == "config-epoch" { epoch = $0 }
      key == "flags" { flags = $0 }
      END { if (ip != "" && epoch ~ /^[0-9]+$/) print epoch, ip, port, flags }')
    [ -n "$found" ] || continue
    set -- $found
    case "$4" in *o_down*|*failover_in_progress*)
      [ "$2 $3" = "$self_addr $self_port" ] && failing=1 ;;
    esac
    if [ "$1" -gt "$best_epoch" ]; then
      best_epoch=$1
      best="$2 $3"
    fi
  done
}

waited=0
ask "$@"
while [ "$failing" = 1 ] && [ "$waited" -lt 30 ]; do
  sleep 1
  waited=$((waited + 1))
  ask "$@"
done
unset REDISCLI_AUTH
# the address and port the master and the Sentinels are told: this node's own, not a container's
announce="--replica-announce-ip $self_addr --replica-announce-port $self_port"
if [ -n "$best" ] && [ "$best" != "$self_addr $self_port" ]; then
  exec "$server" "$conf" --daemonize no $announce --replicaof "${best% *}" "${best#* }"
fi
exec "$server" "$conf" --daemonize no $announce
