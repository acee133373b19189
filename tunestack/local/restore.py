"""`restore` on a local stack: bring PostgreSQL back to a time, an LSN or the end of the archive
into a new data folder, prove it (a scratch server on it: recovery finished, a real query, every
table's rows counted), and only when asked put it in place of the running database, keeping the
old data folder until the new one serves (the Redis queue's: queuerestore.py).

Order of a replace: PgBouncer pauses (clients queue), PostgreSQL stops, the old folder moves to
restore/replaced-<time>/postgres/, the new one moves in, PostgreSQL starts and is counted again, PgBouncer
resumes; a failure at any step puts the old folder back. Then a full backup: the restored cluster
runs on a new timeline, and its next point-in-time restore should start from a backup of it."""
from __future__ import annotations

import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..backup.target import Backup, Target, choose_backup, parse_target, restore_options
from ..errors import UsageError
from ..poll import wait_until
from ..servers import pg_bin, psql_socket
from ..backup.proof import COUNT_TABLES, parse_counts
from ..units import utc_timestamp
from .errors import LocalStackError

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# The scratch server proves the restore, nothing more: a small cache, no archiving (its new
# timeline must never reach the stack's repository), no TCP listener.
SCRATCH = ("-c", "listen_addresses=", "-c", "archive_mode=off", "-c", "shared_buffers=128MB", "-c", "huge_pages=off")


class LocalRestore:
    def __init__(self, stack):
        self.stack, self.folders = stack, stack.folders

    # --- before anything is touched ---------------------------------------------------------------
    def check(self, plan, to: str, into: str | None) -> tuple[Target, Backup, Path]:
        """The target parsed and reachable, the backup it starts from and the new folder: all
        UsageError (exit 2) before anything is touched."""
        if plan.ha:
            raise UsageError(f"stack {plan.stack} runs PostgreSQL with standbys under Patroni: restoring it is not "
                             "built yet (a restore must replace every node, or the standbys rebuild from it); "
                             "nothing was changed. Backups of it are taken and listed as usual")
        try:
            target = parse_target(to)
        except ValueError as exc:
            raise UsageError(f"--to {to!r}: {exc}") from None
        name = into or f"restore-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        if not NAME.match(name):
            raise UsageError(f"--into {name!r}: a folder name of lower-case letters, digits and dashes, e.g. before-drop")
        folder = self.folders.restore / name
        if folder.exists():
            raise UsageError(f"--into {name}: {folder} exists already; name another, or delete it once you no longer "
                             "need it")
        tool = self.stack.backups.pgbackrest(plan)
        try:
            backup = choose_backup(target, tool.backups(), time.time(), self._current_lsn(plan))
        except ValueError as exc:
            raise UsageError(f"--to {to!r}: {exc}") from None
        return target, backup, folder

    def _current_lsn(self, plan) -> str | None:
        if "postgres" not in self.stack.supervisor.running():
            return None
        return self.stack.servers.psql(plan, "SELECT pg_current_wal_lsn()").strip()

    # --- restore and prove ------------------------------------------------------------------------
    def restore(self, plan, target: Target, backup: Backup, folder: Path, progress) -> dict:
        tool = self.stack.backups.pgbackrest(plan)
        if "postgres" in self.stack.supervisor.running():
            progress("archiving the current WAL segment (pgbackrest check), so recent targets are reachable …")
            tool.check()
        folder.mkdir()
        self.folders.own(folder, 0o700, True)
        t0 = time.monotonic()
        tool.run(f"--pg1-path={folder}", *restore_options(target, backup), "--log-level-console=info", "restore",
                 timeout=6 * 3600, progress=progress)
        return {"folder": str(folder), "backup": backup.label, "target": target.describe(),
                "restore_seconds": round(time.monotonic() - t0, 2)}

    def prove(self, plan, folder: Path, progress) -> dict:
        """A scratch server on `folder`: recovery replays to the target and ends, then every table
        of the app's database is counted. Stopped (by its PID) whatever happens."""
        port = plan.postgres["port"].value   # no TCP: the number only names the socket in its own folder
        with tempfile.TemporaryDirectory(prefix="tunestack-restore-", dir=self.folders.restore) as sock:
            self.folders.own(Path(sock), 0o700, True)
            log = Path(sock) / "postgres.log"
            etc = self.folders.etc
            server = subprocess.Popen(
                [pg_bin("postgres"), "-D", str(folder), "-c", f"config_file={etc}/postgresql.conf",
                 "-c", f"hba_file={etc}/pg_hba.conf", "-c", f"ident_file={etc}/pg_ident.conf",
                 "-c", f"unix_socket_directories={sock}", "-c", f"port={port}", *SCRATCH],
                user=self.folders.user, stdout=log.open("w"), stderr=subprocess.STDOUT)
            t0 = time.monotonic()
            try:
                progress("replaying WAL to the target in a scratch server …")
                wait_until(lambda: self._recovered(server, sock, port, log), 3600, "recovery to the target",
                           error=LocalStackError, give_up_on=(LocalStackError,))
                counts = table_counts(sock, port)
            finally:
                server.send_signal(signal.SIGINT)   # fast shutdown: the counts are taken, nothing to wait for
                try:
                    server.wait(60)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
        return {"recovery_seconds": round(time.monotonic() - t0, 2), "in_recovery": False, "tables": counts}

    @staticmethod
    def _recovered(server, sock: str, port: int, log: Path) -> bool:
        if server.poll() is not None:
            raise LocalStackError("the restored database did not start:\n" + "\n".join(
                ln for ln in log.read_text().splitlines()[-12:]))
        res = psql_socket(sock, port, "SELECT pg_is_in_recovery()")
        return res.returncode == 0 and res.stdout.strip() == "f"

    # --- replace ----------------------------------------------------------------------------------
    def replace(self, plan, folder: Path, proven: dict, progress) -> dict:
        """Put the proven folder in place of the stack's data folder; the old one is kept."""
        live = self.folders.data / "postgres"
        aside = self.folders.restore / f"replaced-{utc_timestamp().replace(':', '').replace('-', '')[:15]}"
        aside.mkdir()
        self.folders.own(aside, 0o700, True)
        kept = aside / "postgres"
        servers, supervisor = self.stack.servers, self.stack.supervisor
        running = "postgres" in supervisor.running()
        with servers.pgbouncer_paused(plan):   # also when PostgreSQL is down: no write lands before the count
            progress("stopping PostgreSQL (PgBouncer holds the clients) …" if running else
                     "PostgreSQL is not serving: making sure supervisord no longer retries it …")
            supervisor.ctl("stop", "postgres", check=False)   # also ends a BACKOFF on a lost data folder
            moved_old = live.exists()
            if moved_old:
                live.rename(kept)
            self.mark_for_archiving(folder)
            folder.rename(live)
            try:
                progress("starting PostgreSQL on the restored data …")
                servers.start(plan, ["postgres"])
                counts = table_counts(str(self.folders.pg_socket_dir), plan.postgres["port"].value)
                if counts != proven["tables"]:
                    raise LocalStackError(f"the running server counts {counts}, the scratch server counted "
                                          f"{proven['tables']}")
            except BaseException:
                progress("the restored data did not serve: putting the old data folder back")
                supervisor.ctl("stop", "postgres", check=False)
                live.rename(folder)
                if moved_old:
                    kept.rename(live)
                supervisor.ctl("start", "postgres", check=False)
                raise
        return {"replaced": True, "old_data_kept_in": str(kept) if moved_old else None, "set_aside": str(aside),
                "tables": counts}


    def mark_for_archiving(self, folder: Path) -> list[str]:
        """The scratch server promoted with archiving off, so the new timeline's history file (and
        the old timeline's last, partial segment) were never marked for the archiver. Marked now
        (PostgreSQL's archive_status/<file>.ready), the stack's server archives them at start:
        without the history file in the repository, a later restore would pick the same timeline
        ID again and its WAL would collide with this one's (pgBackRest: ArchiveDuplicateError)."""
        wal, marked = folder / "pg_wal", []
        for file in sorted(wal.iterdir()):
            status = wal / "archive_status"
            if file.name.endswith((".history", ".partial")) and not (status / f"{file.name}.done").exists():
                ready = status / f"{file.name}.ready"
                ready.touch()
                self.folders.own(ready, 0o600, True)
                marked.append(file.name)
        return marked


def table_counts(sock: str, port: int) -> dict[str, int]:
    """Every table of the app's database and its exact row count (count(*), not an estimate)."""
    res = psql_socket(sock, port, db="app", stdin=COUNT_TABLES)
    if res.returncode:
        raise LocalStackError(f"counting the restored tables failed: {res.stderr.strip()}")
    return parse_counts(res.stdout)
