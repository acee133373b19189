#!/bin/sh
# tunestack-live pgbouncer.ini < content: deliver PgBouncer's pools, limits and timeouts to the
# running bouncer and apply them with RELOAD (the Pulumi program runs this through `docker exec -i`).
# The server's own pgbouncer.ini includes this file and then restates what only a restart changes
# (listen address and port), so a reload never half-applies those. Clients stay connected.
set -eu
live=/etc/tunestack/live
[ "${1:-}" = pgbouncer.ini ] || { echo "tunestack-live: unknown file '${1:-}'; allowed: pgbouncer.ini" >&2; exit 2; }
mkdir -p "$live"
new=$(mktemp "$live/.pgbouncer.ini.XXXXXX")
cat > "$new"
chmod 0644 "$new"
mv "$new" "$live/pgbouncer.ini"
port=$(sed -n 's/^listen_port *= *\([0-9]*\).*/\1/p' /etc/tunestack/pgbouncer.ini | tail -1)
# RELOAD on the admin console answers once the file is read; the admin password is read from its
# secret file by the client (PGPASSFILE), never put on a command line.
passfile=$(mktemp)
trap 'rm -f "$passfile"' EXIT
printf '127.0.0.1:%s:pgbouncer:tunestack_admin:%s\n' "$port" "$(cat /etc/tunestack/secrets/tunestack_admin-password)" > "$passfile"
chmod 0600 "$passfile"
PGPASSFILE="$passfile" psql -h 127.0.0.1 -p "$port" -U tunestack_admin -d pgbouncer -X -q -c RELOAD
echo "pgbouncer.ini reloaded"
