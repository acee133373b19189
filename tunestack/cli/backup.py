"""`tunestack backup` and `tunestack restore`: pgBackRest on a local stack, on demand or on the
plan's schedule, and point-in-time restores that are proven before they replace anything."""
from __future__ import annotations

import re
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone

from ..console import print_json, say
from ..errors import UsageError
from .parser import lock_option, report_options, stack_options, state_dir_option, target_option
from .stacks import local_stack, locked

TYPES = ("full", "diff", "incr")


def register(sub) -> None:
    p = sub.add_parser("backup", help="back up a local stack's PostgreSQL and Redis queue (pgBackRest)",
                       description="Take a pgBackRest backup of the stack's PostgreSQL into the repository the plan "
                                   "names (`tunestack plan` shows the policy), and copy the Redis queue's snapshot "
                                   "(BGSAVE) beside it under the same label. pgBackRest makes the first backup full "
                                   "whatever --type says. Progress on stderr; --json for the result. The stack also "
                                   "backs itself up on the plan's schedule (a full backup weekly or daily, a "
                                   "differential on other days). With --target docker: a Docker stack's, into the "
                                   "repository volume beside its PostgreSQL container, or run in the repository server "
                                   "on another host of the stack (plan --target docker --section backup says which).")
    stack_options(p)
    p.add_argument("--type", choices=TYPES, default="diff",
                   help="full: everything; diff (default): what changed since the last full; incr: since the "
                        "last backup of any kind")
    p.add_argument("--list", action="store_true", help="show what the repository holds instead; takes no backup")
    p.add_argument("--schedule", action="store_true",
                   help="run the plan's schedule in the foreground (the stack's supervisord runs this; stop it "
                        "with SIGTERM)")
    report_options(p, "the backup taken")
    state_dir_option(p)
    target_option(p)
    p.set_defaults(func=run_backup)

    p = sub.add_parser("restore", help="restore a local stack's PostgreSQL to a time, an LSN or the latest WAL",
                       description="Restore the database into a new data folder (restore/NAME in the stack's state "
                                   "folder), start a scratch server on it, wait until recovery reaches the target "
                                   "and ends, and count every table's rows. Nothing running is touched unless "
                                   "--replace is given: then the restored folder replaces the running database "
                                   "(the old one is kept in restore/replaced-<time>/) and a full backup follows. "
                                   "With --target docker: into a new volume (--into names it), proven in a "
                                   "throwaway container of the stack's PostgreSQL image; --replace is local only.")
    stack_options(p)
    p.add_argument("--to", required=True, metavar="TIME|LSN|latest",
                   help="latest (all archived WAL), a time with its zone (2026-12-06T10:30:00Z) or an LSN (0/3000060): "
                        "from the end of the oldest backup to now")
    p.add_argument("--into", metavar="NAME", help="the new folder's name under restore/ (default: restore-<time>)")
    p.add_argument("--replace", action="store_true",
                   help="put the proven restore in place of the running database (asks first unless --yes)")
    p.add_argument("--queue", action="store_true",
                   help="also the Redis queue, to the snapshot of the backup the restore starts from (Redis has no "
                        "point in time: jobs queued after that backup are not in it): with --replace on a local "
                        "stack; with --target docker into a new volume <VOLUME>-redis-queue, proven")
    p.add_argument("--yes", action="store_true", help="with --replace: do not ask (needed when not on a terminal)")
    lock_option(p)
    report_options(p, "what was restored and counted")
    state_dir_option(p)
    target_option(p)
    p.set_defaults(func=run_restore)


def _local_only(args, command: str):
    """The local stack the command acts on; a stack with remote hosts is refused with what is and
    is not there yet (exit 2)."""
    from ..targets import is_local_stack
    from .stacks import stack_spec

    spec = stack_spec(args.stack)
    if not is_local_stack(spec):
        remote = ", ".join(h.name for h in spec.hosts if not h.is_local)
        raise UsageError(f"tunestack {command} without --target runs pgBackRest on a local stack; stack {args.stack} "
                         f"has remote hosts ({remote}). For its containers add --target docker")
    return local_stack(args)


def _failed(stack, what: str, exc: Exception) -> int:
    print(f"{what} failed: {stack.redact(str(exc))}", file=sys.stderr)
    return 1


def run_backup(args) -> int:
    from ..backup.pgbackrest import PgBackRestError
    from ..local import LocalStackError

    if args.target == "docker":
        return _docker_backup(args)
    stack = _local_only(args, "backup")
    plan = stack.plan()
    if args.list:
        info = stack.backups.info(plan)
        print_json(info) if args.format == "json" else print(_listing(info))
        return 0
    stack.require_running(": a backup reads the running server")
    if args.schedule:
        return _schedule(stack, plan)
    try:
        result = stack.backups.backup(plan, args.type, progress=_Progress())
    except (PgBackRestError, LocalStackError) as exc:
        return _failed(stack, "backup", exc)
    if args.format == "json":
        print_json(result)
    else:
        print(f"backup {result['label']} ({result['type']}): {result['database_bytes'] / 1e6:.1f} MB of database in "
              f"{result['seconds']} s ({result['mb_per_s']} MB/s), {result['repository_bytes'] / 1e6:.1f} MB "
              f"written to the repository; Redis queue snapshot: {result['redis_queue_snapshot']}")
    return 0


class _Progress:
    """pgBackRest's lines, shortened: its per-file lines become a percentage every 10 %, its
    option dumps are left out (they repeat the config file)."""
    PERCENT = re.compile(r", (\d+(?:\.\d+)?)%\)")

    def __init__(self):
        self.shown = -1

    def __call__(self, line: str) -> None:
        text = line.split(": ", 1)[-1] if " P0" in line[:30] else line
        done = self.PERCENT.search(text)
        if done:
            step = int(float(done.group(1)) // 10 * 10)
            if step > self.shown:
                self.shown = step
                say(f"  {step}% copied")
        elif ("INFO" in line or "WARN" in line or "ERROR" in line) and "command begin" not in text:
            say(f"  {text}")


def _rows(tables: dict[str, int]) -> str:
    """What a proven restore counted, one `table rows` pair after another."""
    return ", ".join(f"{t} {n}" for t, n in tables.items()) or "no tables"


def _listing(info: dict) -> str:
    rows = [f"stanza {info['stanza']} in {info['repository']}: {info['status']}"]
    for b in info["backups"]:
        stop = datetime.fromtimestamp(b["stop"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(f"  {b['label']}  {b['type']:4}  ended {stop}  LSN {b['lsn_stop']}  {b['size'] / 1e6:.1f} MB "
                    f"({b['repo_size'] / 1e6:.1f} MB stored)  redis queue: "
                    f"{'yes' if b['redis_queue_snapshot'] else 'no'}")
    if not info["backups"]:
        rows.append("  no backup yet: tunestack backup")
    return "\n".join(rows)


def _schedule(stack, plan) -> int:
    """The plan's schedule, forever: sleep until the next backup, take it, log the result."""
    from ..backup.schedule import next_backup
    from ..plan.backup import FULL_WEEKDAY

    while True:
        when, kind = next_backup(datetime.now(timezone.utc), plan.backup["full"].value,
                                 plan.backup["backup hour"].value, FULL_WEEKDAY)
        print(f"next backup: {kind} at {when.isoformat()}", flush=True)
        while (left := (when - datetime.now(timezone.utc)).total_seconds()) > 0:
            time.sleep(min(left, 60))
        try:
            print(stack.backups.backup(stack.plan(), kind), flush=True)
        except Exception as exc:   # the next night tries again; the stale-backup alert says it failed
            print(f"scheduled {kind} backup failed: {stack.redact(str(exc))}", flush=True)


def run_restore(args) -> int:
    from pathlib import Path

    from ..backup.pgbackrest import PgBackRestError
    from ..local import LocalStackError
    from ..local.queuerestore import QueueRestore

    if args.target == "docker":
        return _docker_restore(args)
    if args.queue and not args.replace:
        raise UsageError("--queue puts the running Redis queue back: it goes with --replace")
    stack = _local_only(args, "restore")
    plan = stack.plan()
    target, backup, folder = stack.restore.check(plan, args.to, args.into)   # exit 2, nothing touched
    # one node's folder put back would be overwritten by its master's, or overwrite its replicas
    if args.queue and plan.queue_ha:
        raise UsageError(f"--queue: stack {plan.stack} runs the queue with replicas under Sentinel: putting it back is "
                         "not built yet; nothing was changed. Restore without --queue, or take the replicas out first")
    if args.queue and not QueueRestore(stack).has_snapshot(backup.label):
        raise UsageError(f"--queue: backup {backup.label}, where this restore starts, has no Redis queue snapshot; "
                         "restore without --queue, or to a target after a backup that has one (backup --list)")
    if args.replace and not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("restore --replace stops the stack's PostgreSQL and swaps its data folder: add --yes "
                             "(not on a terminal)")
        if input(f"replace the running database of {args.stack} with its state at {target.describe()}? "
                 "The old data folder is kept. [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing was replaced")
            return 0
    say(f"restoring from backup {backup.label} to {target.describe()} into {folder} …")
    try:
        with locked(stack.dir, f"restore --stack {args.stack}", args):
            result = stack.restore.restore(plan, target, backup, folder, _Progress())
            result.update(stack.restore.prove(plan, folder, say))
            if args.replace:
                result.update(stack.restore.replace(plan, folder, result, say))
                if args.queue:
                    result.update(QueueRestore(stack).replace(plan, backup.label, Path(result["set_aside"]), say))
                say("taking a full backup of the restored database (it runs on a new timeline) …")
                result["backup_after"] = stack.backups.backup(plan, "full", progress=_Progress())["label"]
    except (PgBackRestError, LocalStackError) as exc:
        return _failed(stack, "restore", exc)
    if args.format == "json":
        print_json(result)
    else:
        print(f"restored {result['target']} from {result['backup']} into {result['folder']} in "
              f"{result['restore_seconds']} s; recovery ended after {result['recovery_seconds']} s; "
              f"rows: {_rows(result['tables'])}")
        if result.get("replaced"):
            kept = result["old_data_kept_in"]
            print("it now serves the stack; " + (f"the old data is kept in {kept}" if kept else
                                                 "there was no old data folder to keep"))
        else:
            print(f"nothing running was changed; to use it: tunestack restore --stack {args.stack} --to {args.to} "
                  "--replace")
    return 0


# --target docker: a Docker stack's backups (tunestack/backup/docker.py), in the repository volume
# beside PostgreSQL or in the repository server on another host. A restore goes into a new volume on
# the db host and is proven in a throwaway container; nothing running is touched. Each host's
# engine: DOCKER_HOST for a host on this machine (as the docker CLI), else the host over SSH.

def _backups(args):
    import docker

    from ..backup.docker import DockerBackups
    from ..backup.dockerqueue import QueueAccess
    from ..plan import build_plan
    from ..dockerha import engine_urls
    from .stacks import stack_spec

    spec = stack_spec(args.stack)
    plan = build_plan(spec, target="docker")
    url_of = engine_urls(spec)
    url = url_of(spec.host_with("db").name, 0)
    repository = plan.backup["repository server"].value if "repository server" in plan.backup else None
    repo_url = url_of(repository.host, 0) if repository else None
    queue = QueueAccess(url_of(spec.host_with("cache").name, 0), spec.redis_queue.port, "redis-queue" in plan.tls)
    try:
        return DockerBackups(args.stack, url, repo_url, queue)
    except docker.errors.NotFound as exc:
        raise UsageError(f"stack {args.stack} is not deployed on {url}{' and ' + repo_url if repo_url else ''}: "
                         f"{exc.explanation}; deploy it first (pulumi up)") from None


def _docker_backup(args) -> int:
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
        say(f"taking a {args.type} backup in {backups.runner.name} …")
        t0 = time.monotonic()
        made = backups.backup(args.type)
        say("snapshotting the Redis queue beside it …")
        snapshot = backups.queue.snapshot(made.label)
    except PgBackRestError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    result = {**asdict(made), "seconds": round(time.monotonic() - t0, 2), "redis_queue_snapshot": snapshot}
    print_json(result) if args.format == "json" else print(f"backup {made.label} ({made.type}) in {result['seconds']} s; "
                                                           f"Redis queue snapshot: {snapshot}")
    return 0


def _docker_restore(args) -> int:
    from ..backup.pgbackrest import PgBackRestError
    from ..backup.target import TargetError

    if args.replace:
        raise UsageError("--replace acts on a local stack; on Docker the restore goes into a new volume, proven, and "
                         "nothing running is touched (README: Backups in containers)")
    backups = _backups(args)
    volume = args.into or f"{args.stack}-restore-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    say(f"restoring {args.stack} to {args.to} into volume {volume}, proven in a throwaway container …")
    try:
        result = backups.restore(args.to, volume, queue=args.queue)
    except TargetError as exc:
        raise UsageError(f"--to {args.to!r}: {exc}") from None
    except PgBackRestError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        print_json(result)
    else:
        print(f"restored {result['target']} from {result['backup']} into volume {result['volume']}; recovery ended "
              f"after {result['recovery_seconds']} s; rows: {_rows(result['tables'])}")
        if args.queue:
            waiting = ", ".join(f"{k} {n}" for k, n in result["queue_lists"].items()) or "no lists"
            print(f"the Redis queue as backup {result['queue_snapshot_of']} left it: {result['queue_keys']} keys "
                  f"(jobs waiting: {waiting}) in volume {result['queue_volume']}")
        print("nothing running was changed")
    return 0
