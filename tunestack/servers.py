"""The server binaries of this machine: where they are, which PostgreSQL is installed, and as whom
they run. One place for the local stack, the tests and the benchmarks."""
from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess

from .units import release


def fetched_cache(kind: str, env_var: str) -> str:
    """Where a scripts/fetch-* script keeps what it fetched (the same rule as the scripts), and where
    the local stack keeps its build caches: $env_var, else /var/cache/tunestack/<kind> as root,
    else ~/.cache/tunestack/<kind>."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    if os.geteuid() == 0:
        return f"/var/cache/tunestack/{kind}"
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tunestack", kind)


def pg_build_cache() -> str:
    """Where scripts/fetch-postgres keeps the real server builds of every major (13-18)."""
    return fetched_cache("postgres", "TUNESTACK_PG_CACHE")


def pg_bin(name: str, major: int | None = None) -> str:
    """A PostgreSQL binary: of the newest installed major (Debian: /usr/lib/postgresql/N/bin), or of
    `major`: Debian's when installed, else the build scripts/fetch-postgres cached. "" when absent."""
    if major is None:
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
        return found[-1] if found else ""
    for path in (f"/usr/lib/postgresql/{major}/bin/{name}", os.path.join(pg_build_cache(), str(major), "bin", name)):
        if os.access(path, os.X_OK):
            return path
    return ""


# What a build supports, probed by asking its server to parse the setting that needs the library.
_BUILD_PROBES = {"lz4": ("default_toast_compression", "lz4", 14), "liburing": ("io_method", "io_uring", 18)}


def pg_build_features(major: int | None = None) -> tuple[str, ...] | None:
    """The optional libraries (choices.PG_BUILD_FEATURES) a server of `major` here was built with,
    or None when there is no such server. `postgres -C` parses the value and exits: nothing starts."""
    import tempfile

    postgres = pg_bin("postgres", major)
    if not postgres:
        return None
    version = major or installed_pg_major()
    found = []
    with tempfile.TemporaryDirectory() as config_dir:
        open(os.path.join(config_dir, "postgresql.conf"), "w").close()
        if service_user():
            shutil.chown(config_dir, service_user())
        for feature, (name, value, since) in _BUILD_PROBES.items():
            if version is not None and version >= since and subprocess.run(
                    [postgres, "-D", config_dir, "-C", name, "-c", f"{name}={value}"],
                    user=service_user(), capture_output=True).returncode == 0:
                found.append(feature)
    return tuple(found)


def installed_pg_major() -> int | None:
    binary = pg_bin("postgres")
    if not binary:
        return None
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    return release(re.search(r"\(PostgreSQL\) (\S+)", out).group(1))[0]


def installed_ruby() -> str | None:
    """This host's Ruby as major.minor (the default of a rails stack that names none), or None."""
    binary = shutil.which("ruby")
    if not binary:
        return None
    out = subprocess.run([binary, "-e", "print RUBY_VERSION"], capture_output=True, text=True).stdout.strip()
    return ".".join(map(str, release(out)[:2])) if out else None


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


@contextlib.contextmanager
def environ(**changes: str | None):
    """This process's environment with `changes` (None: unset) for the block, as it was after.
    testinfra's docker backend and the docker CLI read DOCKER_HOST and PATH from it."""
    def put(values: dict[str, str | None]) -> None:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    saved = {k: os.environ.get(k) for k in changes}
    try:
        put(changes)
        yield
    finally:
        put(saved)
