#!/bin/sh
# tunestack-live FILE < content: deliver to the running bouncer without a restart (the Pulumi
# program runs this through `docker exec -i`). Clients stay connected.
#   pgbouncer.ini  pools, limits and timeouts, applied with RELOAD. The container's own
#                  pgbouncer.ini includes this file at the end of its [pgbouncer] section, after
#                  what only a restart changes (listen address and port).
#   app-password   the app user's password (a rotation: the Pulumi program's DatabasePassword),
#                  kept 0600 on the live volume; the auth file is written again and RELOADed.
set -eu
. /usr/local/lib/tunestack/admin.sh
live=/etc/tunestack/live
case "${1:-}" in
  pgbouncer.ini)
    mkdir -p "$live"
    new=$(mktemp "$live/.pgbouncer.ini.XXXXXX")
    cat > "$new"
    chmod 0644 "$new"
    mv "$new" "$live/pgbouncer.ini"
    admin RELOAD
    echo "pgbouncer.ini reloaded" ;;
  app-password)
    umask 077
    mkdir -p "$live/secrets" && chown postgres:postgres "$live/secrets" && chmod 0700 "$live/secrets"
    new=$(mktemp "$live/secrets/.app-password.XXXXXX")
    cat > "$new"
    if [ ! -s "$new" ] || [ "$(wc -l < "$new")" -gt 0 ]; then
      rm -f "$new"; echo "tunestack-live: the app password must be one line without a line break" >&2; exit 2
    fi
    chown postgres:postgres "$new" && mv "$new" "$APP_PASSWORD"
    compose_auth_file
    admin RELOAD
    echo "app password set" ;;
  *) echo "tunestack-live: unknown file '${1:-}'; allowed: pgbouncer.ini, app-password" >&2; exit 2 ;;
esac
