#!/bin/sh
# tunestack-hold pause|resume: hold clients while PostgreSQL restarts, instead of failing them.
#   pause   PAUSE: waits (at most 30 s) for running transactions to finish and their server
#           connections to return, then queues every new query (up to query_wait_timeout).
#   resume  RESUME: queued queries go on against the new server. Resuming a bouncer that is not
#           paused (a new container) is not an error.
# The Pulumi program runs `pause` before it replaces PostgreSQL and `resume` once the new one is
# healthy (a command resource whose trigger is PostgreSQL's container id).
set -eu
. /usr/local/lib/tunestack/admin.sh
case "${1:-}" in
  pause)
    if timeout 30 sh -c '. /usr/local/lib/tunestack/admin.sh; admin PAUSE' >/dev/null 2>&1; then
      echo "paused"
    else
      echo "tunestack-hold: PAUSE did not complete within 30 s; PostgreSQL's fast shutdown ends what still runs" >&2
    fi ;;
  resume)
    out=$(admin RESUME 2>&1) || case "$out" in
      *"not paused"*|*"not suspended"*) ;;
      *) echo "$out" >&2; exit 1 ;;
    esac
    echo "resumed" ;;
  *) echo "tunestack-hold: say pause or resume" >&2; exit 2 ;;
esac
