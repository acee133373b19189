# Sourced by tunestack-live and tunestack-hold: one command on PgBouncer's admin console, as
# tunestack_admin over TCP (the only way in: no Unix socket). The password is read from its secret
# file into a private passfile, never put on a command line.
admin() {
  port=$(sed -n 's/^listen_port *= *\([0-9]*\).*/\1/p' /etc/tunestack/pgbouncer.ini | tail -1)
  passfile=$(mktemp)
  printf '127.0.0.1:%s:pgbouncer:tunestack_admin:%s\n' "$port" \
    "$(cat /etc/tunestack/secrets/tunestack_admin-password)" > "$passfile"
  chmod 0600 "$passfile"
  status=0
  PGPASSFILE="$passfile" psql -h 127.0.0.1 -p "$port" -U tunestack_admin -d pgbouncer -X -q -c "$1" || status=$?
  rm -f "$passfile"
  return $status
}
