"""Connection storm: 1,000 concurrent pgbench clients through the tuned stack's PgBouncer, and the
same straight at a stock PostgreSQL (Debian defaults: max_connections = 100)."""
from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tunestack.throwaway import ThrowawayStack, raise_nofile
from tunestack.servers import service_user

CLIENTS = 1000


def _bin(name: str) -> str:
    return sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_pgbench(out: str) -> dict:
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    done = re.search(r"number of transactions actually processed: (\d+)", out)
    return {"tps": float(tps.group(1)) if tps else 0.0, "transactions": int(done.group(1)) if done else 0,
            "pgbench_aborted": "aborted" in out or "too many clients" in out or not tps}


def run_pgbench(host: str, port: int, user: str, db: str, seconds: int, password: str | None = None,
                clients: int = CLIENTS) -> dict:
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if password:
        env["PGPASSWORD"] = password
    res = subprocess.run([_bin("pgbench"), "-n", "-S", "-c", str(clients), "-j", "2", "-T", str(seconds),
                          "-h", host, "-p", str(port), "-U", user, db], env=env, capture_output=True, text=True,
                         preexec_fn=raise_nofile, timeout=seconds + 120)
    result = parse_pgbench(res.stdout + res.stderr)
    result["exit_code"] = res.returncode
    return result


def connection_storm(host: str, port: int, user: str, db: str, password: str | None, clients: int = CLIENTS) -> dict:
    """1,000 clients connect at once and hold their connection until all have tried: count failures."""
    import threading

    import psycopg

    raise_nofile()
    barrier = threading.Barrier(clients, timeout=60)
    failures: list[str] = []
    lock = threading.Lock()

    def client():
        conn = None
        try:
            conn = psycopg.connect(host=host, port=port, user=user, dbname=db, password=password, connect_timeout=30,
                                   autocommit=True)  # no open transaction pinning a server connection
            conn.execute("SELECT 1")
        except Exception as exc:
            with lock:
                failures.append(str(exc).splitlines()[0])
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    kinds = sorted({f.split(":")[-1].strip()[:60] for f in failures})
    return {"failed_connections": len(failures), "failure_kinds": kinds}


def stock_postgres(seconds: int, say, clients: int = CLIENTS) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="tunestack-stock-pg-"))
    tmp.chmod(0o755)
    user = service_user()
    if user:
        shutil.chown(tmp, user)
    port = _free_port()
    try:
        subprocess.run([_bin("initdb"), "-D", str(tmp / "data"), "-A", "trust", "-U", "postgres", "--no-sync"],
                       user=user, check=True, capture_output=True)
        subprocess.run([_bin("pg_ctl"), "-D", str(tmp / "data"), "-l", str(tmp / "log"), "-w", "-o",
                        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={tmp}", "start"],
                       user=user, check=True, capture_output=True)
        subprocess.run([_bin("pgbench"), "-i", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "postgres"],
                       check=True, capture_output=True)
        say(f"  stock PostgreSQL (max_connections 100): {clients} clients for {seconds}s …")
        result = run_pgbench("127.0.0.1", port, "postgres", "postgres", seconds, clients=clients)
        result.update(connection_storm("127.0.0.1", port, "postgres", "postgres", None, clients=clients))
        return result
    finally:
        subprocess.run([_bin("pg_ctl"), "-D", str(tmp / "data"), "-m", "immediate", "stop"], user=user,
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def measure(seconds: int = 15, say=print, clients: int = CLIENTS) -> dict:
    def absorb_storm(c):
        # The storm is bigger than the fleet the plan sizes for: let PgBouncer queue all of it.
        c["tunestack:pgbouncer"]["max_client_conn"] = clients + 100

    with ThrowawayStack("benchstorm", 21432, absorb_storm, say) as stack:
        stack.psql_socket("SELECT 1")
        # PostgreSQL's socket is in its own folder (run/postgres, the service user's only).
        subprocess.run([_bin("pgbench"), "-i", "-q", "-h", str(stack.dir / "run" / "postgres"), "-p", str(stack.base),
                        "-U", "postgres", "app"], user=service_user(), check=True, capture_output=True)
        stack.psql_socket("GRANT SELECT ON ALL TABLES IN SCHEMA public TO app")
        say(f"  tuned stack through PgBouncer: {clients} clients for {seconds}s …")
        tuned = run_pgbench("127.0.0.1", stack.base + 1, "app", "app", seconds, stack.password("app"), clients=clients)
        tuned.update(connection_storm("127.0.0.1", stack.base + 1, "app", "app", stack.password("app"), clients=clients))
    stock = stock_postgres(seconds, say, clients=clients)
    return {"clients": clients, "seconds": seconds, "tuned_pgbouncer": tuned, "stock_postgres": stock,
            "tps_ratio": round(tuned["tps"] / stock["tps"], 2) if stock["tps"] else None}
