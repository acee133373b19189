"""Backups and restores measured (issue #27 point 6), side by side on one throwaway stack:
- backup throughput: `tunestack backup --type full` (pgBackRest, the plan's compression and
  process-max) against a plain `pg_basebackup` and a plain file copy of the same data folder;
- restore: `tunestack restore --to latest` (pgBackRest restore + WAL replay + counting every row in
  a scratch server) and its time per GiB;
- the RPO of a disaster: a writer commits a row every 50 ms, the server is killed and its data
  folder deleted, `restore --to latest --replace` brings back what was archived: the seconds of
  committed writes lost, against the plan's archive_timeout.
Measures only; asserts nothing."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from tunestack.servers import pg_bin, psql_socket, service_user
from tunestack.throwaway import ThrowawayStack

BASE = 11432
MB = 1e6


def _sql(stack, query: str) -> str:
    res = psql_socket(str(stack.dir / "run" / "postgres"), stack.base, query, db="app")
    if res.returncode:
        raise RuntimeError(res.stderr)
    return res.stdout.strip()


def _cli_json(stack, *args) -> dict:
    res = stack.cli(*args, "--json", "-q")
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout)


def _timed(command: list[str], user=None) -> float:
    t0 = time.monotonic()
    subprocess.run(command, user=user, check=True, capture_output=True)
    return time.monotonic() - t0


def _baselines(stack, size: int) -> dict:
    """pg_basebackup (plain format, WAL streamed, fast checkpoint) and cp -a of the data folder,
    into a folder on the same disk as the repository."""
    with tempfile.TemporaryDirectory(prefix="bench-backup-", dir=stack.dir / "restore") as tmp:
        os.chown(tmp, *(_ids() if service_user() else (os.getuid(), os.getgid())))
        base = _timed([pg_bin("pg_basebackup"), "-h", str(stack.dir / "run" / "postgres"), "-p", str(stack.base),
                       "-U", "postgres", "-D", f"{tmp}/base", "-c", "fast", "-X", "stream"], user=service_user())
        copy = _timed(["cp", "-a", str(stack.dir / "data" / "postgres"), f"{tmp}/copy"])
    return {"pg_basebackup": {"seconds": round(base, 2), "mb_per_s": round(size / MB / base, 1)},
            "plain_copy": {"seconds": round(copy, 2), "mb_per_s": round(size / MB / copy, 1)}}


def _ids():
    import pwd

    pw = pwd.getpwnam(service_user())
    return pw.pw_uid, pw.pw_gid


def _rpo(stack, write_s: float) -> dict:
    """A writer commits a row every 50 ms; after `write_s` the server dies with its data folder."""
    _sql(stack, "CREATE TABLE rpo (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
    stop, committed = threading.Event(), []

    def writer():
        while not stop.is_set():
            res = psql_socket(str(stack.dir / "run" / "postgres"), stack.base,
                              "INSERT INTO rpo DEFAULT VALUES RETURNING id", db="app")
            if res.returncode:
                return
            committed.append((int(res.stdout.split()[0]), time.time()))
            stop.wait(0.05)
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(write_s)
    pid = int((stack.dir / "data" / "postgres" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    died = time.time()
    stop.set()
    thread.join(10)
    shutil.rmtree(stack.dir / "data" / "postgres")
    restored = _cli_json(stack, "restore", "--to", "latest", "--replace", "--yes")
    # The segment holding CREATE TABLE may itself be among the lost ones (archive_timeout had not
    # closed it yet): then every committed row is lost, which is the measurement, not an error.
    survived = _sql(stack, "SELECT to_regclass('public.rpo') IS NOT NULL").strip() == "t"
    kept = int(_sql(stack, "SELECT coalesce(max(id), 0) FROM rpo")) if survived else 0
    last_kept_at = next((at for i, at in committed if i == kept), None)
    lost = [i for i, _ in committed if i > kept]
    return {"rows_committed": len(committed), "rows_lost": len(lost),
            "seconds_lost": round(died - last_kept_at, 1) if last_kept_at else round(write_s, 1),
            "restore_seconds": restored["restore_seconds"], "recovery_seconds": restored["recovery_seconds"]}


def measure(say=print, rows: int = 4_000_000, rpo_write_s: float = 75, archive_timeout: str = "60s") -> dict:
    def edit(c):
        c.setdefault("tunestack:backup", {})["archive_timeout"] = archive_timeout
    with ThrowawayStack("benchbackup", BASE, edit=edit, say=say) as stack:
        say(f"  {rows:,} rows of data …")
        _sql(stack, f"CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b "
                    f"FROM generate_series(1, {rows}) g; CHECKPOINT")
        size = int(_sql(stack, "SELECT pg_database_size('app') + pg_database_size('postgres')"))
        say("  tunestack backup --type full …")
        full = _cli_json(stack, "backup", "--type", "full")
        say("  pg_basebackup and a plain copy …")
        baselines = _baselines(stack, full["database_bytes"])
        say("  tunestack restore --to latest (scratch server, rows counted) …")
        restored = _cli_json(stack, "restore", "--to", "latest")
        shutil.rmtree(restored["folder"], ignore_errors=True)
        gib = full["database_bytes"] / 2**30
        say(f"  disaster: a writer for {rpo_write_s:.0f}s, then the data folder is gone …")
        rpo = _rpo(stack, rpo_write_s)
    return {
        "database_mb": round(full["database_bytes"] / MB, 1), "data_tables_mb": round(size / MB, 1),
        "pgbackrest_backup": {"seconds": full["seconds"], "mb_per_s": full["mb_per_s"],
                              "repository_mb": round(full["repository_bytes"] / MB, 1)},
        **baselines,
        "backup_ratio_vs_pg_basebackup": round(full["mb_per_s"] / baselines["pg_basebackup"]["mb_per_s"], 2),
        "backup_ratio_vs_plain_copy": round(full["mb_per_s"] / baselines["plain_copy"]["mb_per_s"], 2),
        "restore": {"seconds": restored["restore_seconds"], "recovery_seconds": restored["recovery_seconds"],
                    "mb_per_s": round(full["database_bytes"] / MB / restored["restore_seconds"], 1),
                    "seconds_per_gib": round((restored["restore_seconds"] + restored["recovery_seconds"]) / gib, 1)},
        "rpo": {**rpo, "archive_timeout": archive_timeout},
    }


def table(b: dict) -> str:
    rows = [f"\nbackup and restore, {b['database_mb']} MB database          seconds      MB/s",
            f"  tunestack backup (pgBackRest full, {b['pgbackrest_backup']['repository_mb']} MB stored)"
            f"{b['pgbackrest_backup']['seconds']:>8}  {b['pgbackrest_backup']['mb_per_s']:>8}",
            f"  pg_basebackup (plain, WAL streamed)        {b['pg_basebackup']['seconds']:>8}  "
            f"{b['pg_basebackup']['mb_per_s']:>8}   pgBackRest {b['backup_ratio_vs_pg_basebackup']}×",
            f"  cp -a of the data folder                   {b['plain_copy']['seconds']:>8}  "
            f"{b['plain_copy']['mb_per_s']:>8}   pgBackRest {b['backup_ratio_vs_plain_copy']}×",
            f"  tunestack restore --to latest              {b['restore']['seconds']:>8}  {b['restore']['mb_per_s']:>8}"
            f"   + {b['restore']['recovery_seconds']}s recovery and counting; {b['restore']['seconds_per_gib']}s per GiB",
            f"  disaster RPO (archive_timeout {b['rpo']['archive_timeout']}): {b['rpo']['rows_lost']} of "
            f"{b['rpo']['rows_committed']} committed rows lost, {b['rpo']['seconds_lost']}s of writes"]
    return "\n".join(rows)
