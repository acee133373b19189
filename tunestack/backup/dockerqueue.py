"""The Redis queue in a Docker stack's backups (issue #27): the queue holds jobs that exist nowhere
else, so each backup taken on demand also snapshots it (`redis-cli --rdb`) and keeps the RDB in the same
repository, as redis-queue/<backup label>.rdb, postgres' own.

Redis has no point in time: a restore brings the queue back as it was when the backup the restore
starts from ended. Like the database, it goes into a new volume on the cache host, proven in a
throwaway container of the queue's own image: the snapshot loads, the AOF is written from memory
(so that the queue, which runs with appendonly, finds its data whichever file it reads first), the
keys are counted. Nothing running is touched."""
from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass

from ..dockerengine import engine_client, read_file
from ..errors import UsageError
from ..plan.placement import container_name
from ..probes import redis_tls_flags
from ..render import CONTAINER_BACKUP
from .pgbackrest import PgBackRestError

SNAPSHOTS = f"{CONTAINER_BACKUP.backup_dir}/redis-queue"
PASSWORD_FILE = "/etc/tunestack/secrets/redis-queue-password"

# A fresh snapshot, as redis in the queue's container, its password read there from its own file
# (never in an argument or this machine's environment): `redis-cli --rdb` asks the server for an
# RDB made for this request (a fork at that moment, streamed like a replica's first sync), so it
# holds every write made before it was asked, whatever save or AOF rewrite runs at the time.
# Bounded; prints the file's path in the container.
SNAPSHOT = (
    'set -eu; REDISCLI_AUTH="$(cat "$PASSWORD_FILE")"; export REDISCLI_AUTH; '
    'dir=$(mktemp -d); timeout 600 redis-cli $TLS_FLAGS -p "$PORT" --no-auth-warning --rdb "$dir/queue.rdb" >&2; '
    'echo "$dir/queue.rdb"')

# In the throwaway container: load the snapshot with the AOF off, write the AOF from memory, count
# the keys and the jobs waiting in each list (job queues are lists: RQ, Sidekiq, BullMQ's wait).
PROVE = (
    'set -eu; chown -R redis:redis /data; chmod 0700 /data; '
    'setpriv --reuid=redis --regid=redis --init-groups redis-server --port 0 --unixsocket /tmp/q.sock '
    '--unixsocketperm 700 --dir /data --dbfilename dump.rdb --appendonly no --daemonize yes --save ""; '
    'cli() { redis-cli -s /tmp/q.sock "$@"; }; i=0; '
    'until cli PING 2>/dev/null | grep -q PONG; do i=$((i + 1)); [ "$i" -le 1500 ] || exit 1; sleep 0.2; done; '
    'cli CONFIG SET appendonly yes >/dev/null; i=0; '
    'until cli INFO persistence | tr -d "\\r" | grep -q "^aof_rewrite_in_progress:0" '
    '&& cli INFO persistence | tr -d "\\r" | grep -q "^aof_enabled:1"; do '
    'i=$((i + 1)); [ "$i" -le 1500 ] || { echo "the AOF was not written in 300 s" >&2; exit 1; }; sleep 0.2; done; '
    'echo "keys $(cli DBSIZE)"; '
    'cli --scan | while read -r key; do '
    'if [ "$(cli TYPE "$key")" = list ]; then echo "list $(cli LLEN "$key") $key"; fi; done; '
    'cli SHUTDOWN >/dev/null 2>&1 || true')


@dataclass(frozen=True)
class QueueAccess:
    """How the queue is reached: its host's engine, its port, and whether it serves TLS only."""
    url: str
    port: int
    tls: bool


class DockerQueue:
    def __init__(self, backups, access: QueueAccess):
        """`backups`: the stack's DockerBackups (its runner keeps the repository)."""
        self.backups, self.access = backups, access
        self.engine = engine_client(access.url)
        self.container = self.engine.containers.get(container_name(backups.stack, "redis-queue"))
        backups.urls[self.container.name] = access.url

    def snapshot(self, label: str) -> str:
        """Snapshot the queue and keep its RDB beside backup `label`; the path in the repository."""
        import subprocess

        res = subprocess.run(["docker", "exec", "-u", "redis", "-e", f"PORT={self.access.port}", "-e",
                              f"TLS_FLAGS={redis_tls_flags(self.access.tls)}", "-e", f"PASSWORD_FILE={PASSWORD_FILE}",
                              self.container.name, "sh", "-c", SNAPSHOT], capture_output=True, text=True,
                             env=self.backups.env_for(self.container.name), timeout=600)
        if res.returncode:
            raise PgBackRestError(f"the Redis queue's snapshot failed: {(res.stdout + res.stderr).strip()[-500:]}")
        made = res.stdout.strip().splitlines()[-1]
        try:
            rdb = read_file(self.container, made)
        finally:
            subprocess.run(["docker", "exec", "-u", "redis", self.container.name, "rm", "-rf", made.rsplit("/", 1)[0]],
                           capture_output=True, env=self.backups.env_for(self.container.name), timeout=60)
        runner = self.backups.runner
        uid, gid = map(int, self.backups._exec(runner, "sh", "-c", 'echo "$(id -u) $(id -g)"').split())
        runner.put_archive("/", _tar({f"{SNAPSHOTS}/{label}.rdb": rdb}, uid, gid))
        return f"{SNAPSHOTS}/{label}.rdb"

    def has_snapshot(self, label: str) -> bool:
        listed = self.backups._exec(self.backups.runner, "sh", "-c", f'ls "{SNAPSHOTS}" 2>/dev/null || true')
        return f"{label}.rdb" in listed.split()

    def restore(self, label: str, volume: str) -> dict:
        """The snapshot of backup `label` into the new volume `volume` on the queue's host, proven."""
        import docker

        try:
            self.engine.volumes.get(volume)
            raise UsageError(f"volume {volume} exists already; name a new one")
        except docker.errors.NotFound:
            pass
        rdb = read_file(self.backups.runner, f"{SNAPSHOTS}/{label}.rdb")
        self.engine.volumes.create(volume, labels={"tunestack.stack": self.backups.stack,
                                                   "tunestack.restored-from": label})
        box = self.engine.containers.create(
            self.container.image.id, ["sh", "-c", PROVE], entrypoint=[], network_mode="none",
            volumes={volume: {"bind": "/data", "mode": "rw"}},
            labels={"tunestack.stack": self.backups.stack, "tunestack.service": "restore-check"})
        try:
            box.put_archive("/", _tar({"/data/dump.rdb": rdb}, 0, 0))
            box.start()
            code = box.wait(timeout=900)["StatusCode"]
            out = box.logs().decode(errors="replace")
        finally:
            box.remove(force=True)
        if code:
            self.engine.volumes.get(volume).remove(force=True)
            raise PgBackRestError(f"the Redis queue's restore into {volume} failed (exit {code}):\n{out[-1000:]}")
        keys = next(int(line.split()[1]) for line in out.splitlines() if line.startswith("keys "))
        lists = {line.split(" ", 2)[2]: int(line.split(" ", 2)[1]) for line in out.splitlines() if line.startswith("list ")}
        return {"queue_volume": volume, "queue_keys": keys, "queue_lists": dict(sorted(lists.items())),
                "queue_snapshot_of": label}


def _tar(files: dict[str, bytes], uid: int, gid: int) -> bytes:
    """A tar for put_archive at /: each file 0600 and its folder 0700, owned by uid:gid."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path, data in files.items():
            folder = tarfile.TarInfo(path.lstrip("/").rsplit("/", 1)[0])
            folder.type, folder.mode, folder.uid, folder.gid = tarfile.DIRTYPE, 0o700, uid, gid
            tar.addfile(folder)
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.uid, info.gid = len(data), 0o600, uid, gid
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
