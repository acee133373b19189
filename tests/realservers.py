"""Start the Debian-packaged servers on loopback with rendered config files, for tests.

PostgreSQL refuses to run as root, so when the tests run as root the servers run as the
`postgres` system user that the Debian package creates.
"""
from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tunestack.poll import wait_until
from tunestack.servers import service_user
from tunestack.servers import pg_bin as _pg_bin


def pg_bin(name: str, major: int | None = None) -> str:
    """A PostgreSQL binary (of `major`); the tests cannot run without it."""
    found = _pg_bin(name, major)
    if not found:
        raise RuntimeError(f"{name} {major or ''} not found: run scripts/setup (Debian's postgresql package, "
                           "and scripts/fetch-postgres for the other majors)")
    return found


def own(path: Path) -> None:
    user = service_user()
    if user:
        pw = pwd.getpwnam(user)
        for root, dirs, files in os.walk(path):
            os.chown(root, pw.pw_uid, pw.pw_gid)
            for f in files:
                os.chown(os.path.join(root, f), pw.pw_uid, pw.pw_gid)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_as_service_user(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, user=service_user(), capture_output=True, text=True, **kw)


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_TEMPLATES: dict[int | None, Path] = {}


def _initdb(data: Path, major: int | None) -> None:
    """A fresh cluster in `data`: copied from one initdb per major (initdb is the slow part)."""
    if major not in _TEMPLATES:
        base = Path(tempfile.mkdtemp(prefix="tunestack-initdb-"))
        atexit.register(shutil.rmtree, base, True)
        own(base)
        init = run_as_service_user([pg_bin("initdb", major), "-D", str(base / "data"), "-A", "trust", "-U", "postgres",
                                    "--no-sync", "-E", "UTF8"])
        if init.returncode:
            raise RuntimeError(init.stderr)
        _TEMPLATES[major] = base / "data"
    shutil.copytree(_TEMPLATES[major], data, symlinks=True)
    os.chmod(data, 0o700)


def start_postgres(workdir: Path, conf_text: str, major: int | None = None) -> Server:
    """A cluster with the rendered postgresql.conf in place as a host would have it, started on
    loopback. `major`: that major's server (Debian's, else scripts/fetch-postgres's build)."""
    data = workdir / "pgdata"
    sock = workdir / "pgsock"
    sock.mkdir(parents=True, exist_ok=True)
    _initdb(data, major)
    (data / "postgresql.conf").write_text(conf_text)
    own(workdir)
    port = free_port()
    log = workdir / "postgres.log"
    logf = open(log, "w")
    proc = subprocess.Popen(
        [pg_bin("postgres", major), "-D", str(data), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
         "-c", f"unix_socket_directories={sock}"],
        user=service_user(), stdout=logf, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(proc, port, log)

    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited: {log.read_text()[-2000:]}")
        # Debian's pg_isready speaks to every major (the fetched builds carry no client tools).
        return run_as_service_user([pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)]).returncode == 0

    try:
        wait_until(ready, 30, "postgres accepting connections")
    except Exception:
        server.stop()
        raise
    return server


def postgres_check_config(workdir: Path, conf_text: str, names: list[str], major: int | None = None) -> dict[str, str]:
    """`postgres -C`: the server parses the config file and reports each value, without starting.

    Used for plans whose shared memory is larger than this test machine has."""
    data = workdir / "pgdata"
    _initdb(data, major)
    (data / "postgresql.conf").write_text(conf_text)
    own(workdir)
    values = {}
    for name in names:
        res = run_as_service_user([pg_bin("postgres", major), "-D", str(data), "-C", name])
        if res.returncode:
            raise RuntimeError(f"postgres rejected the config while reading {name}: {res.stderr.strip()}")
        values[name] = res.stdout.strip()
    return values


def psql(port: int, sql: str, db: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
    env = dict(os.environ, PGCONNECT_TIMEOUT="5")
    if password:
        env["PGPASSWORD"] = password
    res = subprocess.run([shutil.which("psql") or "psql", "-h", "127.0.0.1", "-p", str(port), "-U", user,
                          "-d", db, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, env=env, timeout=30)
    if res.returncode:
        raise RuntimeError(res.stderr.strip())
    return res.stdout


def start_pgbouncer(workdir: Path, ini_text: str, userlist: str) -> Server:
    """Start PgBouncer with the rendered ini; only the listen address, port and files are moved."""
    port = free_port()
    (workdir / "userlist.txt").write_text(userlist)
    # Later keys in [pgbouncer] win, and [pgbouncer] is the rendered file's last section.
    ini = ini_text + f"\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nauth_file = {workdir}/userlist.txt\n"
    path = workdir / "pgbouncer.ini"
    path.write_text(ini)
    own(workdir)
    log = workdir / "pgbouncer.log"
    proc = subprocess.Popen([shutil.which("pgbouncer") or "/usr/sbin/pgbouncer", str(path)],
                            user=service_user(), stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(proc, port, log)

    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {log.read_text()[-2000:]}")
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_until(ready, 20, "pgbouncer listening")
    return server


def start_redis(workdir: Path, conf_path: Path) -> Server:
    """Start redis-server with a rendered conf; the port and bind move to free loopback values."""
    port = free_port()
    log = workdir / f"{conf_path.stem}.log"
    proc = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server", str(conf_path),
                             "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "no",
                             "--logfile", str(log)],
                            stdout=subprocess.DEVNULL, stderr=open(workdir / f"{conf_path.stem}.err", "w"),
                            cwd=workdir)  # a Redis without `dir` would write dump.rdb into the cwd
    server = Server(proc, port, log)

    def ready():
        if proc.poll() is not None:
            err = (workdir / f"{conf_path.stem}.err").read_text()
            raise RuntimeError(f"redis exited: {err[-2000:]} {log.read_text()[-2000:] if log.exists() else ''}")
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_until(ready, 20, "redis listening")
    return server
