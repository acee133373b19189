"""`tunestack backup|restore --target docker`: the same commands for a Docker stack whose repository
is a volume beside PostgreSQL (tunestack/backup/docker.py). pgBackRest runs in the stack's
PostgreSQL container; a restore goes into a new volume and is proven in a throwaway container, and
nothing running is touched. The db host's engine: DOCKER_HOST for a host on this machine (as the
docker CLI), else the host over SSH."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict

from ..console import print_json, say
from ..errors import UsageError


def _backups(args):
    import docker

    from ..backup.docker import DockerBackups
    from ..targets import docker_url
    from .stacks import stack_spec

    spec = stack_spec(args.stack)
    db = spec.host_with("db")
    url = os.environ.get("DOCKER_HOST") if db.is_local and os.environ.get("DOCKER_HOST") else docker_url(db)
    try:
        return DockerBackups(docker.DockerClient(base_url=url, timeout=600), args.stack)
    except docker.errors.NotFound:
        raise UsageError(f"stack {args.stack} has no PostgreSQL container on {url}: deploy it first (pulumi up)") from None


def docker_backup(args) -> int:
    from ..backup.pgbackrest import PgBackRestError

    backups = _backups(args)
    if args.schedule:
        raise UsageError("--schedule runs the local stack's schedule; a Docker stack's is not deployed yet (README: "
                         "Backups in containers)")
    try:
        if args.list:
            rows = [asdict(b) for b in backups.backups()]
            print_json(rows) if args.format == "json" else print("\n".join(
                f"  {b['label']}  {b['type']:4}  ended {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(b['stop']))}"
                f"  LSN {b['lsn_stop']}" for b in rows) or "  no backup yet")
            return 0
        say(f"taking a {args.type} backup in {backups.container.name} …")
        t0 = time.monotonic()
        made = backups.backup(args.type)
    except PgBackRestError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    result = {**asdict(made), "seconds": round(time.monotonic() - t0, 2)}
    print_json(result) if args.format == "json" else print(f"backup {made.label} ({made.type}) in {result['seconds']} s")
    return 0


def docker_restore(args) -> int:
    from ..backup.pgbackrest import PgBackRestError
    from ..backup.target import TargetError

    if args.replace or args.queue:
        raise UsageError("--replace and --queue act on a local stack; on Docker the restore goes into a new volume, "
                         "proven, and nothing running is touched (README: Backups in containers)")
    backups = _backups(args)
    volume = args.into or f"{args.stack}-restore-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    say(f"restoring {args.stack} to {args.to} into volume {volume}, proven in a throwaway container …")
    try:
        result = backups.restore(args.to, volume)
    except TargetError as exc:
        raise UsageError(f"--to {args.to!r}: {exc}") from None
    except PgBackRestError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        print_json(result)
    else:
        tables = ", ".join(f"{t} {n}" for t, n in result["tables"].items()) or "no tables"
        print(f"restored {result['target']} from {result['backup']} into volume {result['volume']}; recovery ended "
              f"after {result['recovery_seconds']} s; rows: {tables}\nnothing running was changed")
    return 0
