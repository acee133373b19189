"""The server binaries of this machine: where they are, which PostgreSQL is installed, and as whom
they run. One place for the local stack, the tests and the benchmarks."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess


def pg_bin(name: str) -> str:
    """A PostgreSQL server binary of the newest installed major (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return found[-1] if found else ""


def installed_pg_major() -> int | None:
    binary = pg_bin("postgres")
    if not binary:
        return None
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    return int(out.split()[-1].split(".")[0])


def installed_ruby() -> str | None:
    """This host's Ruby as major.minor (the default of a rails stack that names none), or None."""
    binary = shutil.which("ruby")
    if not binary:
        return None
    out = subprocess.run([binary, "-e", "print RUBY_VERSION"], capture_output=True, text=True).stdout
    return ".".join(out.strip().split(".")[:2]) or None


def which(name: str) -> str | None:
    """A binary on PATH or in the sbin folders a non-login root shell may lack."""
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None)


def service_user() -> str | None:
    """The user servers run as: `postgres` when we are root (PostgreSQL refuses root), else ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def psql_socket(socket_dir: str, port: int, sql: str = "", db: str = "postgres", stdin: str | None = None,
                user: str | None = None) -> subprocess.CompletedProcess:
    """psql as the `postgres` superuser over the server's private socket folder."""
    return subprocess.run([pg_bin("psql") or "psql", "-h", socket_dir, "-p", str(port), "-U", "postgres", "-d", db,
                           "-AtX", "-v", "ON_ERROR_STOP=1", *([] if stdin is not None else ["-c", sql])],
                          input=stdin, user=user if user is not None else service_user(),
                          capture_output=True, text=True)
