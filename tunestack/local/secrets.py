"""The local stack's passwords: generated once per purpose, kept in secrets/passwords.json (root,
0600), never in the checkout; the secret files derived from them; and the mask for error text."""
from __future__ import annotations

import json
import secrets as pysecrets

from ..render import render_text
from .folders import StateFolders

from ..errors import SECRET_MASK as MASK

PURPOSES = ("app", "jobs", "migrator", "admin", "redis-cache", "redis-queue", "runtime",
            "replication", "rewind", "patroni-api", "etcd-root", "etcd-patroni",   # Patroni's and etcd's (local/cluster.py)
            "redis-sentinel",   # the queue's Sentinels (local/sentinel.py)
            "monitor-postgres", "monitor-pgbouncer", "monitor-redis")   # the exporters' own (local/monitoring.py)
# Read by the apps on every request (NAME_FILE), so a new one takes effect without a restart:
# `up` replaces them each time, and a captured token works only until the next `up`.
ROTATED = ("runtime",)


class Passwords:
    def __init__(self, folders: StateFolders):
        self.folders = folders
        self.path = folders.secrets / "passwords.json"

    def get(self) -> dict[str, str]:
        """One per role and per Redis instance: a leaked cache password opens no queue."""
        values = json.loads(self.path.read_text()) if self.path.exists() else {}
        if not all(k in values for k in PURPOSES):
            values = {k: values.get(k) or pysecrets.token_urlsafe(24) for k in PURPOSES}
            self.folders.write(self.path, json.dumps(values), 0o600)
        return values

    def rotate(self) -> dict[str, str]:
        """New tokens for every purpose in ROTATED; passwords stay (a new one means restarts)."""
        values = self.get()
        values.update({k: pysecrets.token_urlsafe(24) for k in ROTATED})
        self.folders.write(self.path, json.dumps(values), 0o600)
        return values

    def redact(self, text: str) -> str:
        """Error text with every known password masked: errors may quote config lines."""
        known = json.loads(self.path.read_text()).values() if self.path.exists() else ()
        for secret in known:
            text = text.replace(secret, MASK)
        return text


def secret_files(pw: dict[str, str], plan=None) -> dict[str, dict[str, str]]:
    """Secret files by folder: root's (read by verify) and the service user's (read by servers);
    with `plan`'s monitoring on, the exporters' logins too."""
    from ..monitoring.servers import redis_password_hash
    from .monitoring import enabled, exporter_secret_files

    monitor = plan is not None and enabled(plan)
    redis_monitor = {"monitor_hash": redis_password_hash(pw["monitor-redis"])} if monitor else {}
    return {
        # verify reads <user>-password on the host (tunestack verify --secrets-dir)
        "secrets": {"migrator-password": pw["migrator"], "app-password": pw["app"], "jobs-password": pw["jobs"],
                    "runtime-token": pw["runtime"],
                    "tunestack_admin-password": pw["admin"],
                    "redis-cache-password": pw["redis-cache"], "redis-queue-password": pw["redis-queue"],
                    "redis-sentinel-password": pw["redis-sentinel"]},
        "service-secrets": {
            "pgbouncer-userlist.txt": render_text("pgbouncer-userlist.txt.j2", app=pw["app"], jobs=pw["jobs"],
                                                  admin=pw["admin"], monitor=pw["monitor-pgbouncer"] if monitor else None),
            "redis-cache.conf": render_text("redis-secrets.conf.j2", password=pw["redis-cache"], **redis_monitor),
            # masterauth too: with redis.queue.replicas any queue node may replicate another
            "redis-queue.conf": render_text("redis-secrets.conf.j2", password=pw["redis-queue"], masterauth=True,
                                            **redis_monitor),
            # a queue node asks the Sentinels whom to follow before it starts (redis-node.sh)
            "redis-sentinel-password": pw["redis-sentinel"],
            **(exporter_secret_files(plan, pw) if monitor else {})},
    }


def write_secret_files(folders: StateFolders, pw: dict[str, str], plan=None) -> set[str]:
    """Write the secret files; return `folder/name` of each whose content changed (a new password:
    its servers restart). The rotated tokens change every time and restart nothing."""
    changed = set()
    for folder, files in secret_files(pw, plan).items():
        for name, content in files.items():
            path = folders.dir / folder / name
            if not path.exists() or path.read_text() != content:
                changed.add(f"{folder}/{name}")
            folders.write(path, content, 0o600, service=folder == "service-secrets")
    return changed - {f"secrets/{purpose}-token" for purpose in ROTATED}
