"""Read a running server through a testinfra host (local://, ssh://, docker://): the one way verify
and advise ask PostgreSQL, PgBouncer's console and Redis. Passwords are read from files on that
host into the client's environment, never written into a command line or a log."""
from __future__ import annotations


def quote(text: str) -> str:
    """One shell word, whatever `text` holds."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def psql(host, secrets_dir: str, port: int, sql: str, db: str = "app", user: str = "migrator",
         header: bool = False) -> str:
    """Unaligned rows (`|` between columns); with `header`, the column names first (SHOW commands
    of PgBouncer's console, whose columns differ between versions)."""
    flags = "-AX -P footer=off" if header else "-AtX"
    cmd = (f'PGPASSWORD="$(cat {secrets_dir}/{user}-password)" PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p {port} '
           f"-U {user} -d {db} {flags} -c {quote(sql)}")
    return host.check_output(cmd)


def redis_cli(host, secrets_dir: str, role: str, port: int, *command: str) -> str:
    """redis-cli on one instance with that instance's own password (one per role)."""
    words = " ".join(quote(w) for w in command)
    return host.check_output(f'REDISCLI_AUTH="$(cat {secrets_dir}/redis-{role}-password)" redis-cli --no-auth-warning '
                             f"-h 127.0.0.1 -p {port} {words}")
