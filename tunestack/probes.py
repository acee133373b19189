"""Read a running server through a testinfra host (local://, ssh://, docker://): the one way verify
and advise ask PostgreSQL, PgBouncer's console and Redis. Passwords are read from files on that
host into the client's environment, never written into a command line or a log."""
from __future__ import annotations

from .plan.tls import CA_FILE


def quote(text: str) -> str:
    """One shell word, whatever `text` holds."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def psql_command(secrets_dir: str, port: int, sql: str, db: str = "app", user: str = "migrator",
                 flags: str = "-AtX", env: str = "") -> str:
    """psql on loopback as `user`, its password read from the host's file into psql's environment
    (never its argv); `env`: more libpq variables, e.g. PGSSLMODE=disable."""
    return (f'{env + " " if env else ""}PGPASSWORD="$(cat {secrets_dir}/{user}-password)" PGCONNECT_TIMEOUT=5 '
            f"psql -h 127.0.0.1 -p {port} -U {user} -d {db} {flags} -c {quote(sql)}")


def psql(host, secrets_dir: str, port: int, sql: str, db: str = "app", user: str = "migrator",
         header: bool = False) -> str:
    """Unaligned rows (`|` between columns); with `header`, the column names first (SHOW commands
    of PgBouncer's console, whose columns differ between versions)."""
    return host.check_output(psql_command(secrets_dir, port, sql, db, user, "-AX -P footer=off" if header else "-AtX"))


def redis_tls_flags(tls: bool) -> str:
    """redis-cli's words for an instance that serves TLS only (plan.tls): TLS, verified with the CA."""
    return f"--tls --cacert {CA_FILE} " if tls else ""


def redis_cli(host, secrets_dir: str, role: str, port: int, *command: str, as_json: bool = False,
              tls: bool = False) -> str:
    """redis-cli on one instance with that instance's own password (one per role). `as_json`: the
    reply as JSON (redis-cli 7 --json), for replies whose values may be empty or hold line breaks.
    `tls`: the instance serves TLS only (`f"redis-{role}" in plan.tls`)."""
    words = " ".join(quote(w) for w in command)
    return host.check_output(f'REDISCLI_AUTH="$(cat {secrets_dir}/redis-{role}-password)" redis-cli --no-auth-warning '
                             f"{'--json ' if as_json else ''}{redis_tls_flags(tls)}-h 127.0.0.1 -p {port} {words}")


def with_token_header(secrets_dir: str, token_file: str, url: str, max_time: int = 10) -> str:
    """A curl command for `url` with the X-Tunestack-Token header read from the host's own file:
    the shell's printf builtin hands the header to curl on stdin (`-H @-`), so the token is in no
    process's argv (/proc/<pid>/cmdline is readable by every local user)."""
    return (f"printf 'X-Tunestack-Token: %s\\n' \"$(cat {quote(f'{secrets_dir}/{token_file}')})\" | "
            f"curl -fsS -m {max_time} -H @- {quote(url)}")


def puma_control(host, control_dir: str, socket: str, path: str) -> str:
    """Puma's control app, on its unix socket in the host's control folder (only root and the web
    server's user enter it: the socket's mode is the credential, there is no token)."""
    return host.check_output(f"curl -fsS -m 5 --unix-socket {quote(f'{control_dir}/{socket}')} "
                             + quote(f"http://localhost{path}"))
