"""The Redis queue put back to the snapshot a backup took of it (`restore --replace --queue`).

Redis has no point-in-time recovery: the queue comes back as it was when the backup the restore
starts from ended. The snapshot is loaded into a scratch Redis on a private socket with the AOF off,
which then writes the AOF from memory (CONFIG SET appendonly yes); only then does the stack's
instance start on the folder. Loading never depends on whether Redis prefers the AOF or the RDB
at start. The old folder is kept beside the old database folder."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..servers import which
from .errors import LocalStackError, wait_until


class QueueRestore:
    def __init__(self, stack):
        self.stack, self.folders = stack, stack.folders

    def snapshot_of(self, label: str) -> Path:
        return self.stack.backups.redis_snapshots() / f"{label}.rdb"

    def has_snapshot(self, label: str) -> bool:
        return self.snapshot_of(label).exists()

    def replace(self, plan, label: str, keep_in: Path, progress) -> dict:
        rdb = self.snapshot_of(label)
        live = self.folders.data / "redis-queue"
        progress(f"putting the Redis queue back to backup {label}'s snapshot …")
        self.stack.supervisor.ctl("stop", "redis-queue", check=False)
        kept = keep_in / "redis-queue"
        live.rename(kept)
        try:
            live.mkdir()
            self.folders.own(live, 0o700, True)
            shutil.copyfile(rdb, live / "dump.rdb")
            self.folders.own(live / "dump.rdb", 0o600, True)
            keys = self._load_and_write_aof(live)
            self.stack.servers.start(plan, ["redis-queue"])
        except BaseException:
            progress("the queue did not come back: putting its old folder back")
            self.stack.supervisor.ctl("stop", "redis-queue", check=False)
            shutil.rmtree(live, ignore_errors=True)
            kept.rename(live)
            self.stack.supervisor.ctl("start", "redis-queue", check=False)
            raise
        return {"redis_queue": {"snapshot": str(rdb), "keys": keys, "old_folder_kept_in": str(kept)}}

    def _load_and_write_aof(self, folder: Path) -> int:
        import redis as redis_py

        sock = folder / "restore.sock"
        server = subprocess.Popen(
            [which("redis-server"), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
             "--dir", str(folder), "--dbfilename", "dump.rdb", "--appendonly", "no", "--save", ""],
            user=self.folders.user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client = redis_py.Redis(unix_socket_path=str(sock), socket_timeout=10)
            wait_until(lambda: sock.exists() and client.info("persistence")["loading"] == 0, 300,
                       "the queue's snapshot loaded")
            keys = client.dbsize()
            client.config_set("appendonly", "yes")   # rewrites the AOF from what was loaded

            def written():
                p = client.info("persistence")
                return p["aof_rewrite_in_progress"] == 0 and p["aof_rewrite_scheduled"] == 0 and \
                    p["aof_last_bgrewrite_status"] == "ok" and p["aof_enabled"] == 1
            wait_until(written, 300, "the queue's AOF written")
            client.shutdown(save=False)
        except redis_py.ConnectionError:
            raise LocalStackError("the scratch Redis for the queue's snapshot stopped; see its snapshot") from None
        finally:
            if server.poll() is None:
                server.terminate()
            server.wait(30)
        return keys
