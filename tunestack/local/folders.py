"""The local stack's state folder and who owns what in it.

State lives outside the checkout, in `paths.state_root()/<stack>/`:
- etc/ (root, 0755): rendered configs (0644; supervisord.conf 0600) and the applied plan;
- secrets/ (root, 0700): passwords.json, and pgpass / redis-*-password for verify;
- service-secrets/ (service user, 0700): PgBouncer's auth file and Redis' requirepass includes;
- data/ (service user, 0700 per server), run/ (sockets: one 0700 folder per server; control/ is
  root's, for Puma's control app), log/ (root, 0700,
  files 0600 through supervisord's umask);
- app/ (root, 0755): the built Go or Node reference app;
- backup/ (service user, 0700): the pgBackRest repository, with the Redis queue's snapshots in
  backup/redis-queue/; data/pgbackrest/ its spool, log and lock files;
- metrics/ (root, 0755): what node_exporter's textfile collector reads (the last backup);
- restore/ (service user, 0700): data folders `restore` brings back, kept until verified and used.
"""
from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentProblem
from ..paths import state_root
from ..render import Layout


@dataclass(frozen=True)
class StateFolders:
    dir: Path
    user: str | None    # the service user servers run as (postgres as root), None: ourselves

    @classmethod
    def of(cls, stack: str, root: Path | None = None) -> "StateFolders":
        return cls((root or state_root()) / stack, "postgres" if os.geteuid() == 0 else None)

    etc = property(lambda self: self.dir / "etc")
    secrets = property(lambda self: self.dir / "secrets")
    service_secrets = property(lambda self: self.dir / "service-secrets")
    data = property(lambda self: self.dir / "data")
    run = property(lambda self: self.dir / "run")
    log = property(lambda self: self.dir / "log")
    app = property(lambda self: self.dir / "app")
    backup = property(lambda self: self.dir / "backup")
    metrics = property(lambda self: self.dir / "metrics")   # node_exporter's textfile collector folder
    restore = property(lambda self: self.dir / "restore")
    pgbackrest = property(lambda self: self.data / "pgbackrest")
    pgbackrest_conf = property(lambda self: self.etc / "pgbackrest.conf")
    pg_socket_dir = property(lambda self: self.run / "postgres")   # only the service user may enter it
    control = property(lambda self: self.run / "control")   # Puma's control socket: root's (the web runs as us)

    @property
    def layout(self) -> Layout:
        """Where the rendered files point: this stack's secrets, data and HAProxy's socket folder."""
        return Layout(secrets_dir=str(self.service_secrets), data_dir=str(self.data), run_dir=str(self.run / "haproxy"),
                      control_dir=str(self.control), backup_dir=str(self.backup), pgbackrest_dir=str(self.pgbackrest),
                      pg_socket_dir=str(self.pg_socket_dir), conf_dir=str(self.etc))

    def own(self, path: Path, mode: int, service: bool) -> None:
        """Give `path` to the service user (data, sockets, its secrets) or to root (everything root
        executes or reads as configuration), with `mode`."""
        path.chmod(mode)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user) if service and self.user else pwd.getpwuid(0)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def make(self) -> None:
        try:
            self._make()
        except OSError as exc:   # a home that does not exist, a folder another user owns
            raise EnvironmentProblem(
                f"cannot make the state folder {self.dir}: {exc.strerror} ({exc.filename}). Run as root, or give "
                f"this user a folder of its own: --state-dir DIR (or TUNESTACK_STATE_DIR / XDG_STATE_HOME)") from None

    def _make(self) -> None:
        layout = [(self.dir, 0o711, False), (self.etc, 0o755, False), (self.secrets, 0o700, False),
                  (self.log, 0o700, False), (self.run, 0o711, False), (self.data, 0o711, False),
                  (self.service_secrets, 0o700, True), (self.pg_socket_dir, 0o700, True),
                  (self.run / "haproxy", 0o700, True), (self.control, 0o700, False), (self.data / "redis-cache", 0o700, True),
                  (self.data / "redis-queue", 0o700, True), (self.data / "postgres", 0o700, True),
                  (self.data / "patroni", 0o700, True), (self.data / "etcd", 0o700, True),
                  (self.data / "prometheus", 0o700, True), (self.data / "alertmanager", 0o700, True),
                  (self.backup, 0o700, True), (self.restore, 0o700, True), (self.metrics, 0o755, False), (self.pgbackrest, 0o700, True),
                  *((self.pgbackrest / d, 0o700, True) for d in ("spool", "log", "lock"))]
        for d, mode, service in layout:
            d.mkdir(parents=True, exist_ok=True)
            self.own(d, mode, service)
        if self.user:  # the service user must pass through the state root to its stack folder
            self.dir.parent.chmod(self.dir.parent.stat().st_mode | 0o011)

    def write(self, path: Path, content: str, mode: int, service: bool = False) -> None:
        path.write_text(content)
        self.own(path, mode, service)
