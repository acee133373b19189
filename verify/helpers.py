"""Commands the checks run on a host. Passwords are read from files on the host, never written
into a command line or a log."""
from __future__ import annotations


def psql(host, secrets_dir: str, port: int, sql: str, db: str = "app", user: str = "migrator") -> str:
    # The password comes from the host's own file into psql's environment: never a command line.
    cmd = (f'PGPASSWORD="$(cat {secrets_dir}/{user}-password)" PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p {port} '
           f"-U {user} -d {db} -AtX -c {quote(sql)}")
    return host.check_output(cmd)


def redis_get(host, secrets_dir: str, role: str, port: int, key: str) -> str:
    """CONFIG GET on one instance, with that instance's own password (one per role)."""
    out = host.check_output(f'REDISCLI_AUTH="$(cat {secrets_dir}/redis-{role}-password)" redis-cli -h 127.0.0.1 '
                            f"-p {port} --no-auth-warning CONFIG GET {quote(key)}")
    lines = out.splitlines()
    return lines[1] if len(lines) > 1 else ""


def quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def listener_pids(host, port: int) -> set[int]:
    """Pids of the processes that hold the listening socket of `port` (ss -p)."""
    import re

    out = host.check_output(f"ss -Hltnp 'sport = :{port}'")
    return {int(p) for p in re.findall(r"pid=(\d+)", out)}
