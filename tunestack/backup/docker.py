"""Backups of a Docker stack (issue #27), with its repository either a volume beside PostgreSQL
(one db host) or on another host in the stack's repository server (plan: backup → repository
server). pgBackRest runs as postgres: in the PostgreSQL container over its own socket, or in the
repository server, which reads the data through the agent in the PostgreSQL container.

A restore never touches the running server: it goes into a new volume, in a throwaway container
of the same image on the db host, and is proven there (images/postgres/restore-check.sh: recovery
ended, every table counted) before anyone uses it. That container has no network and the
repository read-only when the repository is beside it; otherwise it reaches the repository server
with the agent's client certificate, copied from container to container through the engine, never
through an environment, an argument or a file of this machine."""
from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time

from ..dockerengine import engine_client, read_file
from ..errors import UsageError
from ..plan.backupserver import CERT_FILE, KEY_FILE, REPOSITORY_SERVICE
from ..plan.placement import container_name
from ..plan.tls import CA_FILE
from ..render import CONTAINER_BACKUP
from .pgbackrest import DEFAULT_CONFIG, PgBackRestError, backups_of
from .proof import COUNT_TABLES, parse_counts
from .target import Backup, choose_backup, parse_target, restore_options

REPOSITORY = CONTAINER_BACKUP.backup_dir     # the repository volume in the container (components/postgres.py)


class DockerBackups:
    def __init__(self, stack: str, db_url: str, repository_url: str | None = None, queue=None):
        """`db_url`: the db host's engine; `repository_url`: the repository host's, when the stack
        keeps its repository there; `queue`: how to reach the Redis queue (dockerqueue.QueueAccess),
        whose snapshots go beside the backups. docker.errors.NotFound when a container is not there."""
        from .dockerqueue import DockerQueue

        self.stack, self.client = stack, engine_client(db_url)
        self.container = self.client.containers.get(container_name(stack, "postgres"))
        self.runner = engine_client(repository_url).containers.get(container_name(stack, REPOSITORY_SERVICE)) \
            if repository_url else self.container
        self.urls = {self.container.name: db_url, self.runner.name: repository_url or db_url}
        self.queue = DockerQueue(self, queue) if queue else None

    def env_for(self, name: str) -> dict[str, str]:
        """The environment for the docker CLI to reach container `name`'s engine."""
        return {**os.environ, "DOCKER_HOST": self.urls[name]}

    def _exec(self, container, *argv: str) -> str:
        """A command as postgres in `container`, through the docker CLI: the SDK's exec over
        ssh:// breaks its pipe on close (docker-py's ssh client), the CLI's does not."""
        res = subprocess.run(["docker", "exec", "-u", "postgres", container.name, *argv], capture_output=True,
                             text=True, env=self.env_for(container.name), timeout=6 * 3600)
        if res.returncode:
            raise PgBackRestError(f"{argv[0]} {argv[-1]} in {container.name} failed (exit {res.returncode}):\n"
                                  + "\n".join((res.stdout + res.stderr).splitlines()[-15:]))
        return res.stdout

    def pgbackrest(self, *args: str) -> str:
        """pgBackRest where this stack runs its backups: beside PostgreSQL, or in the repository server."""
        return self._exec(self.runner, "pgbackrest", f"--stanza={self.stack}", *args)

    @property
    def remote(self) -> bool:
        return self.runner is not self.container

    def backup(self, kind: str = "full") -> Backup:
        self.pgbackrest("--log-level-console=warn", f"--type={kind}", "backup")
        return self.backups()[-1]

    def backups(self) -> list[Backup]:
        stanzas = [s for s in json.loads(self.pgbackrest("--output=json", "info")) if s.get("name") == self.stack]
        return backups_of(stanzas[0]) if stanzas else []

    def current_lsn(self) -> str:
        return self._exec(self.container, "psql", "-AtX", "-d", "postgres", "-c", "SELECT pg_current_wal_lsn()").strip()

    def _repository_volume(self) -> str:
        mounts = [m["Name"] for m in self.container.attrs["Mounts"] if m.get("Destination") == REPOSITORY]
        if not mounts:
            raise UsageError(f"{self.container.name} has no repository volume at {REPOSITORY}: this stack does not "
                             "archive in its containers (plan --target docker --section backup says why)")
        return mounts[0]

    def restore(self, to: str, volume: str, queue: bool = False) -> dict:
        """Restore to `to` (a time with its zone, an LSN or latest) into the new volume `volume` and
        prove it; with `queue`, the Redis queue's snapshot of the same backup too, into
        `<volume>-redis-queue` on the queue's host. Bad input (an unusable target, an existing
        volume, no snapshot) is refused before anything is made; a failed proof removes its volume."""
        import docker

        target = parse_target(to)
        backup = choose_backup(target, self.backups(), time.time(), self.current_lsn())
        if queue and not (self.queue and self.queue.has_snapshot(backup.label)):
            raise UsageError(f"--queue: backup {backup.label}, where this restore starts, has no Redis queue "
                             "snapshot; restore without --queue, or to a target after a backup that has one")
        for engine, name in [(self.client, volume)] + ([(self.queue.engine, f"{volume}-redis-queue")] if queue else []):
            try:
                engine.volumes.get(name)
                raise UsageError(f"volume {name} exists already; name a new one (--into)")
            except docker.errors.NotFound:
                pass
        repository = None if self.remote else self._repository_volume()
        conf = self._exec(self.container, "cat", DEFAULT_CONFIG)
        self.client.volumes.create(volume, labels={"tunestack.stack": self.stack, "tunestack.restored-from": backup.label})
        try:
            out = self._prove(conf, [f"--stanza={self.stack}", *restore_options(target, backup)], volume, repository)
        except PgBackRestError:
            self.client.volumes.get(volume).remove(force=True)
            raise
        seconds = next((int(line.split()[2]) for line in out.splitlines() if line.startswith("recovered in ")), None)
        result = {"backup": backup.label, "target": target.describe(), "volume": volume, "recovery_seconds": seconds,
                  "tables": parse_counts(out)}
        if queue:
            result.update(self.queue.restore(backup.label, f"{volume}-redis-queue"))
        return result

    def _prove(self, conf: str, command: list[str], volume: str, repository: str | None) -> str:
        """Run restore-check in a throwaway container on the db host; its output, or PgBackRestError.
        `repository`: the repository volume beside PostgreSQL (None: the repository server's)."""
        volumes = {volume: {"bind": "/restore", "mode": "rw"}}
        if repository is None:   # the stack's private network on the db host: the way out to the others
            network, hosts = next(iter(self.container.attrs["NetworkSettings"]["Networks"])), self._repository_hosts()
        else:
            network, hosts = "none", None
            volumes[repository] = {"bind": REPOSITORY, "mode": "ro"}
        box = self.client.containers.create(
            self.container.image.id, command, entrypoint=["/usr/bin/tini", "--", "tunestack-restore-check"],
            network_mode=network, extra_hosts=hosts, volumes=volumes,
            environment={"PGBACKREST_CONF_TEXT": conf, "COUNT_TABLES": COUNT_TABLES},
            labels={"tunestack.stack": self.stack, "tunestack.service": "restore-check"})
        try:
            if self.remote:
                box.put_archive("/", self._client_certificate())
            box.start()
            code = box.wait(timeout=1800)["StatusCode"]
            out = box.logs(stdout=True, stderr=False).decode(errors="replace")
            if code:
                err = box.logs(stdout=False, stderr=True).decode(errors="replace")
                raise PgBackRestError(f"the restore into {volume} failed (exit {code}):\n{err[-2000:]}")
            return out
        finally:
            box.remove(force=True)

    def _repository_hosts(self) -> dict[str, str]:
        """The repository server's name → address, exactly as the PostgreSQL container has it."""
        return dict(entry.split(":", 1) for entry in self.container.attrs["HostConfig"].get("ExtraHosts") or [])

    def _client_certificate(self) -> bytes:
        """The agent's certificate, key and the CA, from the PostgreSQL container, as a tar for
        put_archive at /: the key stays 0600 (restore-check makes it postgres')."""
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for path in (CA_FILE, CERT_FILE, KEY_FILE):
                data = read_file(self.container, path)
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size, info.mode = len(data), 0o600 if path == KEY_FILE else 0o644
                tar.addfile(info, io.BytesIO(data))
        return out.getvalue()
