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

# PgBouncer's auth file (auth_file in the container's pgbouncer.ini): the uploaded users (jobs, the
# admin) and the app's, delivered live (tunestack-live app-password) and kept on the live volume,
# so that a rotation never restarts PgBouncer. Written 0600 for PgBouncer's user, then renamed.
AUTH_FILE=/run/tunestack/pgbouncer-userlist.txt
APP_PASSWORD=/etc/tunestack/live/secrets/app-password
compose_auth_file() {
  mkdir -p /run/tunestack && chown postgres:postgres /run/tunestack && chmod 0700 /run/tunestack
  tmp=$(mktemp /run/tunestack/.userlist.XXXXXX)
  cat /etc/tunestack/secrets/pgbouncer-userlist.txt > "$tmp"
  if [ -s "$APP_PASSWORD" ]; then
    # "user" "password", a double quote inside doubled (PgBouncer manual, auth_file)
    printf '"app" "%s"\n' "$(sed 's/"/""/g' "$APP_PASSWORD")" >> "$tmp"
  fi
  chown postgres:postgres "$tmp" && chmod 0600 "$tmp" && mv "$tmp" "$AUTH_FILE"
}
