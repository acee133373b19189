"""The one way tunestack runs pgBackRest: as the database's service user, with the stack's config
file, its output streamed to a progress callback, its `info` read as JSON. Nothing else here
knows pgBackRest's command line."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..poll import poll
from .target import Backup


DEFAULT_CONFIG = "/etc/pgbackrest/pgbackrest.conf"   # where pgBackRest looks without --config (containers)


CLUSTER_COMMANDS = ("stanza-create", "stanza-upgrade", "check", "backup")   # the ones that reach PostgreSQL

# `info` status codes (pgBackRest's src/command/info/info.c) that mean the stanza is there: ok, and
# no valid backup yet. Any other (1 missing path, 3 missing data, 4 mixed across repositories, 5
# database mismatch) sends `ensure_stanza` to stanza-create, which makes the stanza or says why not.
STANZA_THERE = (0, 2)
LOCK_HELD_EXIT = 50   # LockAcquireError: another pgBackRest process (an archive-push) holds the stanza's lock
DB_CONNECT_EXIT = 56  # DbConnectError: the server refused the connection (pgBackRest's src/build/error/error.yaml)


class PgBackRestError(Exception):
    """pgBackRest refused or failed; the message carries its own words."""


@dataclass(frozen=True)
class PgBackRest:
    config: Path
    stanza: str
    user: str | None = None        # the database's service user (None: ourselves)
    # options that win over the config's (--pg1-path, --pg1-port of the node that leads now)
    overrides: tuple[str, ...] = ()

    def command(self, *args: str) -> list[str]:
        # pgBackRest refuses pg options on commands that never touch a cluster (info, expire)
        overrides = self.overrides if args and args[-1] in CLUSTER_COMMANDS else ()
        return ["pgbackrest", f"--config={self.config}", f"--stanza={self.stanza}", *overrides, *args]

    def run(self, *args: str, timeout: float = 600, progress: Callable[[str], None] | None = None) -> str:
        """Run one command; its lines go to `progress` as they come. Exit non-zero: PgBackRestError."""
        proc = subprocess.Popen(self.command(*args), user=self.user, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        lines = []
        try:
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if progress:
                    progress(lines[-1])
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode:
            raise PgBackRestError(f"pgbackrest {args[-1] if args else ''} failed (exit {proc.returncode}):\n"
                                  + "\n".join(lines[-15:]))
        return "\n".join(lines)

    def stanza_create(self) -> None:
        """Idempotent: pgBackRest accepts a second stanza-create for the same cluster."""
        self.run("--log-level-console=warn", "stanza-create", timeout=120)

    def ensure_stanza(self, lock_wait_s: float = 60) -> bool:
        """The stanza, made only when `info` says it is not there; True if it was made. A restarted
        server's archive-push holds the stanza's lock at once, so stanza-create on an existing stanza
        could fail on the lock alone; while the lock is held, the create is retried within `lock_wait_s`."""
        if self.info().get("status", {}).get("code") in STANZA_THERE:
            return False
        failure: list[PgBackRestError] = []

        def created() -> bool:
            try:
                self.stanza_create()
                return True
            except PgBackRestError as exc:
                if f"(exit {LOCK_HELD_EXIT})" not in str(exc):
                    raise
                failure[:] = [exc]
                return False
        if not poll(created, lock_wait_s, interval=1, give_up_on=(PgBackRestError,)):
            raise failure[0]
        return True

    def check(self) -> None:
        """pgBackRest's own end-to-end check: the config, the repository, and that a WAL switch reaches
        the archive."""
        self.run("--log-level-console=warn", "--archive-timeout=60", "check", timeout=120)

    def info(self) -> dict:
        out = self.run("--output=json", "info", timeout=60)
        stanzas = [s for s in json.loads(out) if s.get("name") == self.stanza]
        return stanzas[0] if stanzas else {"name": self.stanza, "backup": [], "status": {"code": 1}}

    def backups(self) -> list[Backup]:
        return backups_of(self.info())


def backups_of(info: dict) -> list[Backup]:
    """The backups in one stanza's `info --output=json`, oldest first."""
    out = []
    for b in info.get("backup", []):
        out.append(Backup(label=b["label"], type=b["type"], start=float(b["timestamp"]["start"]),
                          stop=float(b["timestamp"]["stop"]), lsn_start=b.get("lsn", {}).get("start", "0/0"),
                          lsn_stop=b.get("lsn", {}).get("stop", "0/0"), size=int(b["info"]["size"]),
                          repo_size=int(b["info"]["repository"]["delta"])))
    return sorted(out, key=lambda b: b.stop)
