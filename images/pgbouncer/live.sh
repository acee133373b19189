#!/bin/sh
# tunestack-live pgbouncer.ini < content: deliver PgBouncer's pools, limits and timeouts to the
# running bouncer and apply them with RELOAD (the Pulumi program runs this through `docker exec -i`).
# The container's own pgbouncer.ini includes this file at the end of its [pgbouncer] section, after
# what only a restart changes (listen address and port). Clients stay connected.
set -eu
. /usr/local/lib/tunestack/admin.sh
live=/etc/tunestack/live
[ "${1:-}" = pgbouncer.ini ] || { echo "tunestack-live: unknown file '${1:-}'; allowed: pgbouncer.ini" >&2; exit 2; }
mkdir -p "$live"
new=$(mktemp "$live/.pgbouncer.ini.XXXXXX")
cat > "$new"
chmod 0644 "$new"
mv "$new" "$live/pgbouncer.ini"
admin RELOAD
echo "pgbouncer.ini reloaded"
