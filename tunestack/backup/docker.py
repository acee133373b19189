"""Backups of a Docker stack whose repository is a volume beside PostgreSQL (one db host; issue
#27). pgBackRest runs inside the stack's PostgreSQL container as postgres, over its own socket. A
restore never touches the running server: it goes into a new volume, in a throwaway container of
the same image with no network and the repository mounted read-only, and is proven there
(images/postgres/restore-check.sh: recovery ended, every table counted) before anyone uses it."""
from __future__ import annotations

import json
import time

from ..errors import UsageError
from ..plan.placement import container_name
from ..render import CONTAINER_BACKUP
from .pgbackrest import DEFAULT_CONFIG, PgBackRestError, backups_of
from .proof import COUNT_TABLES, parse_counts
from .target import Backup, choose_backup, parse_target, restore_options

REPOSITORY = CONTAINER_BACKUP.backup_dir     # the repository volume in the container (components/postgres.py)


class DockerBackups:
    def __init__(self, client, stack: str):
        """`client`: a docker SDK client of the db host's engine."""
        self.client, self.stack = client, stack
        self.container = client.containers.get(container_name(stack, "postgres"))

    def _exec(self, *argv: str) -> str:
        res = self.container.exec_run(list(argv), user="postgres")
        text = res.output.decode(errors="replace")
        if res.exit_code:
            raise PgBackRestError(f"{argv[0]} {argv[-1]} in {self.container.name} failed (exit {res.exit_code}):\n"
                                  + "\n".join(text.splitlines()[-15:]))
        return text

    def pgbackrest(self, *args: str) -> str:
        return self._exec("pgbackrest", f"--stanza={self.stack}", *args)

    def backup(self, kind: str = "full") -> Backup:
        self.pgbackrest("--log-level-console=warn", f"--type={kind}", "backup")
        return self.backups()[-1]

    def backups(self) -> list[Backup]:
        stanzas = [s for s in json.loads(self.pgbackrest("--output=json", "info")) if s.get("name") == self.stack]
        return backups_of(stanzas[0]) if stanzas else []

    def current_lsn(self) -> str:
        return self._exec("psql", "-AtX", "-d", "postgres", "-c", "SELECT pg_current_wal_lsn()").strip()

    def _repository_volume(self) -> str:
        mounts = [m["Name"] for m in self.container.attrs["Mounts"] if m.get("Destination") == REPOSITORY]
        if not mounts:
            raise UsageError(f"{self.container.name} has no repository volume at {REPOSITORY}: this stack does not "
                             "archive in its containers (plan --target docker --section backup says why)")
        return mounts[0]

    def restore(self, to: str, volume: str) -> dict:
        """Restore to `to` (a time with its zone, an LSN or latest) into the new volume `volume` and
        prove it. Bad input (an unusable target, an existing volume) is refused before anything is
        made; a failed proof removes the volume it made."""
        import docker

        target = parse_target(to)
        backup = choose_backup(target, self.backups(), time.time(), self.current_lsn())
        try:
            self.client.volumes.get(volume)
            raise UsageError(f"volume {volume} exists already; name a new one")
        except docker.errors.NotFound:
            pass
        repository, conf = self._repository_volume(), self._exec("cat", DEFAULT_CONFIG)
        self.client.volumes.create(volume, labels={"tunestack.stack": self.stack, "tunestack.restored-from": backup.label})
        try:
            out = self.client.containers.run(
                self.container.image.id, [f"--stanza={self.stack}", *restore_options(target, backup)],
                entrypoint=["/usr/bin/tini", "--", "tunestack-restore-check"], network_mode="none", remove=True, stderr=True,
                volumes={repository: {"bind": REPOSITORY, "mode": "ro"}, volume: {"bind": "/restore", "mode": "rw"}},
                environment={"PGBACKREST_CONF_TEXT": conf, "COUNT_TABLES": COUNT_TABLES},
                labels={"tunestack.stack": self.stack, "tunestack.service": "restore-check"}).decode()
        except docker.errors.ContainerError as exc:
            self.client.volumes.get(volume).remove(force=True)
            raise PgBackRestError(f"the restore into {volume} failed:\n{(exc.stderr or b'').decode()[-2000:]}") from None
        seconds = next((int(line.split()[2]) for line in out.splitlines() if line.startswith("recovered in ")), None)
        return {"backup": backup.label, "target": target.describe(), "volume": volume, "recovery_seconds": seconds,
                "tables": parse_counts(out)}
