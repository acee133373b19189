"""Refresh the per-major catalogs (tunestack/data/pg<N>_settings.json) from real servers: each
major's `pg_settings` (type, unit, range, enum values, context), read from a throwaway server
started on a private socket. The builds come from scripts/fetch-postgres.

    python -m tunestack.postgres.refresh [MAJOR ...]      (default: every supported major)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources

from ..choices import PG_VERSIONS
from ..servers import pg_bin, service_user

# Enum values a server has only when built with the library (configure --with-lz4, --with-zstd,
# --with-liburing),
# in PostgreSQL's own order; the catalog lists them for every build of a major that knows them.
BUILD_OPTIONAL = {"wal_compression": ("pglz", "lz4", "zstd", "on", "off"),
                  "default_toast_compression": ("pglz", "lz4"), "io_method": ("sync", "worker", "io_uring")}
QUERY = "SELECT name, vartype, unit, min_val, max_val, enumvals, context, boot_val FROM pg_settings ORDER BY name"


def read_settings(major: int) -> dict[str, list]:
    """pg_settings of a real server of `major`, as {name: [vartype, unit, min, max, enumvals, context,
    boot_val]}: boot_val is PostgreSQL's own default, what a setting no file sets is."""
    import psycopg

    postgres = pg_bin("postgres", major)
    if not postgres:
        raise SystemExit(f"no PostgreSQL {major} server here: run scripts/fetch-postgres {major}")
    bindir = os.path.dirname(postgres)
    user = service_user()
    work = tempfile.mkdtemp(prefix=f"tunestack-pg{major}-")
    try:
        os.chmod(work, 0o700)
        if user:
            shutil.chown(work, user)
        data, sock = os.path.join(work, "data"), work
        run = dict(user=user, capture_output=True, text=True, check=True)
        # trust on a socket in a 0700 folder with no TCP listener: only this process and root reach it.
        subprocess.run([f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"], **run)
        subprocess.run([f"{bindir}/pg_ctl", "-D", data, "-w", "-l", f"{work}/log", "start", "-o",
                        f"-c listen_addresses='' -c unix_socket_directories={sock} -p 5432"], **run)
        try:
            with psycopg.connect(host=sock, port=5432, user="postgres", dbname="postgres") as conn:
                rows = conn.execute(QUERY).fetchall()
        finally:
            subprocess.run([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], **run)
        out = {r[0]: [r[1], r[2], r[3], r[4], r[5], r[6], r[7]] for r in rows}
        for name, values in BUILD_OPTIONAL.items():
            if name in out and out[name][0] == "enum":
                out[name][4] = list(values)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_catalog(major: int, rows: dict[str, list]) -> str:
    path = str(resources.files("tunestack.data").joinpath(f"pg{major}_settings.json"))
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in rows.items())
    with open(path, "w") as f:
        f.write("{\n" + body + "\n}\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tunestack.postgres.refresh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("majors", nargs="*", type=int, help=f"majors to refresh (default: {' '.join(map(str, PG_VERSIONS))})")
    args = parser.parse_args(argv)
    for major in args.majors or PG_VERSIONS:
        if major not in PG_VERSIONS:
            print(f"PostgreSQL {major} is not supported; supported: {', '.join(map(str, PG_VERSIONS))}", file=sys.stderr)
            return 2
        rows = read_settings(major)
        print(f"PostgreSQL {major}: {len(rows)} settings → {write_catalog(major, rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
