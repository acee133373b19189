"""Backups of a local stack: pgBackRest's stanza, an on-demand or scheduled backup of PostgreSQL
with the Redis queue's snapshot beside it in the same repository, and what the repository holds.

The queue Redis holds jobs that exist nowhere else: each backup also asks it for an RDB snapshot
(BGSAVE) and copies it to backup/redis-queue/<backup label>.rdb; snapshots go when pgBackRest
expires their backup. Restores are in restore.py."""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from pathlib import Path

from ..backup.pgbackrest import PgBackRest, backups_of
from ..backup.target import Backup
from ..harender import node_paths
from .errors import LocalStackError, wait_until


class LocalBackups:
    def __init__(self, stack):
        self.stack, self.folders = stack, stack.folders

    def pgbackrest(self, plan) -> PgBackRest:
        """With standbys, pgBackRest works on the node that leads now: a backup needs the primary."""
        overrides = ()
        if plan.ha:
            leader = self.stack.servers.cluster.leader(plan)
            if leader is None:
                raise LocalStackError("Patroni has no leader now: no backup can start (tunestack status)")
            overrides = (f"--pg1-path={node_paths(self.folders.layout, leader.name, '').data_dir}",
                         f"--pg1-port={leader.port}")
        return PgBackRest(self.folders.pgbackrest_conf, plan.backup["stanza"].text, self.folders.user, overrides)

    def redis_snapshots(self) -> Path:
        return self.folders.backup / "redis-queue"

    def ensure_stanza(self, plan) -> None:
        """Once PostgreSQL serves with archive_mode on: the stanza, if it is not there yet, so that WAL
        archiving starts at once."""
        self.pgbackrest(plan).ensure_stanza()

    def backup(self, plan, kind: str, progress=lambda line: None) -> dict:
        """A backup of `kind` (pgBackRest makes the first one full whatever was asked), then the Redis
        queue's snapshot under the same label; what was written, and how fast."""
        tool = self.pgbackrest(plan)
        before = {b.label for b in tool.backups()}
        t0 = time.monotonic()
        tool.run(f"--type={kind}", "--log-level-console=detail", "backup", timeout=6 * 3600, progress=progress)
        seconds = time.monotonic() - t0
        after = tool.backups()   # expire has run too: what the repository keeps now
        new = [b for b in after if b.label not in before]
        if not new:
            raise LocalStackError("pgbackrest reported success but the repository shows no new backup")
        made = new[-1]
        snapshot = self.snapshot_queue(plan, made.label)
        self.expire_snapshots(after)
        self.write_metrics(tool.stanza, made, seconds)
        return {"label": made.label, "type": made.type, "seconds": round(seconds, 2), "database_bytes": made.size,
                "repository_bytes": made.repo_size, "mb_per_s": round(made.size / 1e6 / max(seconds, 1e-3), 1),
                "lsn_stop": made.lsn_stop, "redis_queue_snapshot": str(snapshot)}

    def has_backup(self, plan) -> bool:
        return bool(self.pgbackrest(plan).backups())

    def write_metrics(self, stanza: str, made: Backup, seconds: float) -> None:
        """node_exporter's textfile collector reads this (the Prometheus way for batch jobs): the
        BackupStale alert fires when the newest success gets too old. Written whole, then renamed."""
        out = self.folders.metrics
        text = "".join(f"# TYPE {name} gauge\n{name}{{stanza=\"{stanza}\",type=\"{made.type}\"}} {value}\n"
                       for name, value in (("tunestack_backup_last_success_timestamp_seconds", made.stop),
                                           ("tunestack_backup_last_duration_seconds", round(seconds, 3)),
                                           ("tunestack_backup_last_size_bytes", made.size)))
        tmp = out / ".tunestack_backup.prom.tmp"
        self.folders.write(tmp, text, 0o644)
        tmp.rename(out / "tunestack_backup.prom")

    def snapshot_queue(self, plan, label: str) -> Path:
        """BGSAVE on the queue, wait for it to finish (bounded), copy the RDB next to the backup."""
        client = self.stack.servers.redis_client("queue", plan)
        last = client.lastsave()
        client.bgsave()
        wait_until(lambda: client.lastsave() != last and client.info("persistence")["rdb_bgsave_in_progress"] == 0,
                   300, "the Redis queue's snapshot (BGSAVE)")
        if client.info("persistence")["rdb_last_bgsave_status"] != "ok":
            raise LocalStackError("the Redis queue's snapshot failed (rdb_last_bgsave_status); see its log")
        rdb = Path(client.config_get("dir")["dir"]) / client.config_get("dbfilename")["dbfilename"]
        out = self.redis_snapshots()
        out.mkdir(exist_ok=True)
        self.folders.own(out, 0o700, True)
        target = out / f"{label}.rdb"
        shutil.copyfile(rdb, target)
        self.folders.own(target, 0o600, True)
        return target

    def expire_snapshots(self, backups: list[Backup]) -> None:
        """The queue's snapshots follow pgBackRest's retention: one whose backup expired goes too."""
        kept = {b.label for b in backups}
        for rdb in self.redis_snapshots().glob("*.rdb"):
            if rdb.stem not in kept:
                rdb.unlink()

    def info(self, plan) -> dict:
        tool = self.pgbackrest(plan)
        info = tool.info()
        backups = [asdict(b) for b in backups_of(info)]
        for b in backups:
            b["redis_queue_snapshot"] = (self.redis_snapshots() / f"{b['label']}.rdb").exists()
        return {"stanza": tool.stanza, "status": info.get("status", {}).get("message", ""),
                "repository": str(self.folders.backup), "backups": backups,
                "archive": [{"id": a.get("id"), "min": a.get("min"), "max": a.get("max")} for a in info.get("archive", [])]}
