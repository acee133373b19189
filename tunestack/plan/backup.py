"""The backup policy (pgBackRest): where the repository lives, when full and differential backups
run, how many are kept, how much committed work a lost db host may take with it (archive_timeout),
the settings PostgreSQL and pgBackRest get, and what the repository costs in disk. Pure.

Sources: pgBackRest User Guide (stanza, repository host, retention, archive-async, compress-type,
process-max), PostgreSQL docs 26.3 "Continuous Archiving and Point-in-Time Recovery"
(archive_mode, archive_command, archive_timeout)."""
from __future__ import annotations

from dataclasses import replace

from ..stackfile.spec import BackupSpec, HostSpec
from ..units import format_bytes_human
from .backupserver import with_backup_servers
from .budgets import Budget, within
from .pgalerts import backup_alerts
from .setting import Setting, chosen, policy

COMPRESSION = {"lz4": 0.5, "zst": 0.35, "gz": 0.4}   # assumed bytes out per byte in, for the estimate
DATA_PER_RAM = {"less_ram": 0.5, "mid_ram": 1.0, "greater_ram": 4.0}   # postgres.db_size, when data_size is unset
DAYS_PER_FULL = {"weekly": 7, "daily": 1}
WAL_PER_DAY_SHARE = 0.1     # assumed WAL a day, as a share of the data, when backup.wal_per_day is unset
DEFAULT_PATH = "/var/lib/pgbackrest"
CONTAINER_SOCKET_DIR = "/var/run/postgresql"   # the PostgreSQL image's socket folder (Debian's)
BACKUP_HOUR_UTC = 1
STALE_SLACK_S = 6 * 3600    # a scheduled backup of a large database may run for hours
FULL_WEEKDAY = 6            # Sunday (datetime.weekday()): a weekly full backup lands on the quietest day


def repository(spec: BackupSpec, hosts: tuple[HostSpec, ...], source_of) -> Setting:
    """Where the repository goes, as (kind, where): the stack file's, else another host of the
    stack (pgBackRest's "dedicated repository host": a lost db host keeps its backups), else a
    folder on the one host."""
    def placed(kind: str, where: str, setting) -> Setting:
        return replace(setting, value=(kind, where), text=f"{kind}: {where}")
    if spec.repository_kind:
        return placed(spec.repository_kind, spec.repository, chosen("", "backup.repository", source_of, ""))
    db = next(h for h in hosts if "db" in h.roles)
    other = next((h for h in hosts if h.name != db.name and "cache" in h.roles),
                 next((h for h in hosts if h.name != db.name), None))
    if other is not None:
        return placed("host", other.name, policy("", "another host of the stack (pgBackRest's repository host): a "
                                                     "lost db host keeps its backups"))
    return placed("path", DEFAULT_PATH, policy("", "one host: the repository shares its disk; copy it off the "
                                                   "machine, or name S3"))


def backup_policy(spec: BackupSpec, hosts: tuple[HostSpec, ...], stack: str, db_cores: int, db_memory: int,
                  db_size: str, source_of) -> dict[str, Setting]:
    placed = repository(spec, hosts, source_of)
    full_every = DAYS_PER_FULL[spec.full]
    settings = {
        "repository": placed,
        "stanza": policy(stack, "one stanza per stack, named after it"),
        "full": chosen(spec.full, "backup.full", source_of, "a full backup a week, a differential on each other "
                                                            "day: restores replay at most a day of changes"),
        "repo1-retention-full": chosen(spec.retention_full, "backup.retention_full", source_of,
                                       f"two full backups: point-in-time recovery over the last "
                                       f"{full_every * 2} days at least"),
        "compress-type": chosen(spec.compress, "backup.compress", source_of,
                                "lz4: several times faster than gz for a somewhat larger repository"),
        "process-max": Setting(max(1, db_cores // 4), f"a quarter of the db host's {db_cores} cores: backups run "
                                                      "beside the workload", "policy",
                               rule="a quarter of the db host's cores: backups run beside the workload"),
        "archive-async": policy("y", "WAL is pushed in parallel batches, so archiving keeps up at peak "
                                     "(pgBackRest: archive-async with a spool path)"),
        "start-fast": policy("y", "an on-demand backup starts at once (an immediate checkpoint) instead of "
                                  "waiting for the next one (pgBackRest: start-fast)"),
        "newest backup at most": Setting(
            24 * 3600 + STALE_SLACK_S, f"a backup runs every day, full or differential; {STALE_SLACK_S // 3600}h more "
                                       "for a slow one: an older newest backup means a scheduled one failed",
            "policy", text=f"{24 + STALE_SLACK_S // 3600}h", unit="s"),
        "backup hour": policy(BACKUP_HOUR_UTC, f"scheduled backups start at {BACKUP_HOUR_UTC:02d}:00 UTC, "
                                               "night for most of the users of a European or American stack"),
    }
    settings["estimated repository size"] = estimate(spec, db_memory, db_size)
    return settings


# The policy's settings that are pgBackRest options (pgbackrest.conf [global]).
PGBACKREST_OPTIONS = ("repo1-retention-full", "compress-type", "process-max", "archive-async", "start-fast")


def repository_options(placed: tuple[str, str], spec: BackupSpec, hosts: tuple[HostSpec, ...],
                       default_path: str) -> dict[str, str]:
    """pgbackrest.conf's repo1-* options for where the plan put the repository (`placed`, the
    `repository` setting's value): a folder here (the layout's when the stack names none), another
    host reached over SSH as its postgres user, or S3 (the keys come from the environment, never
    from this file)."""
    kind, where = placed
    if kind == "host":
        address = next(h.address for h in hosts if h.name == where)
        return {"repo1-host": address, "repo1-host-user": "postgres", "repo1-path": DEFAULT_PATH}
    if kind == "s3":
        return {"repo1-type": "s3", "repo1-s3-bucket": where, "repo1-s3-region": spec.s3_region,
                "repo1-s3-endpoint": spec.s3_endpoint or f"s3.{spec.s3_region}.amazonaws.com",
                "repo1-path": "/pgbackrest"}
    return {"repo1-path": where if spec.repository_kind else default_path}


def archive_settings(spec: BackupSpec, stack: str, docker: bool, source_of, kind: str = "path") -> dict[str, Setting]:
    """PostgreSQL's side of the policy, for postgresql.conf: archive every WAL segment through
    pgBackRest, and close a segment at least every archive_timeout (the RPO for a lost db host).
    `kind`: the repository's (plan `repository`); containers reach a volume beside PostgreSQL or
    another host's repository server (backupserver.py), not S3 yet."""
    if docker and kind == "s3":
        return {"archive_mode": policy("off", "an S3 repository for containers needs its keys in the PostgreSQL "
                                              "container's environment, which tunestack does not deliver yet: "
                                              "archiving to a repository that cannot be reached would keep every "
                                              "WAL segment in pg_wal until the disk fills")}
    socket = {"unix_socket_directories": policy(
        CONTAINER_SOCKET_DIR, "pgBackRest reaches the server through its socket (pg1-socket-path), as Debian's psql "
                              "in the image does; the fetched server builds would otherwise put it in /tmp")} \
        if docker else {}
    return {
        **socket,
        "archive_mode": policy("on", "every WAL segment is archived (PostgreSQL docs 26.3)"),
        "archive_command": policy(f"pgbackrest --stanza={stack} archive-push %p",
                                  "pgBackRest archives each segment and verifies it; its config is "
                                  "/etc/pgbackrest/pgbackrest.conf (containers: the repository on a volume of "
                                  "the db host) or PGBACKREST_CONFIG in the server's environment"),
        "archive_timeout": replace(chosen(spec.archive_timeout_ms, "backup.archive_timeout", source_of,
                                          "a quiet server still closes a segment each minute, so a lost db host "
                                          "loses at most a minute of committed work (the RPO)"),
                                   text=f"{spec.archive_timeout_ms // 1000}s", unit="ms",
                                   rule="the RPO for a lost db host: a segment closes at least this often"),
    }


def estimate(spec: BackupSpec, db_memory: int, db_size: str) -> Setting:
    """(retention_full + 1) full copies (a new full lands before the oldest expires) plus the WAL of
    the whole retention window, compressed. Data and WAL per day are the stack file's, else
    assumptions the reason names, to be replaced by what pg_database_size and pg_stat_wal show."""
    ratio = COMPRESSION[spec.compress]
    data = spec.data_bytes or int(db_memory * DATA_PER_RAM[db_size])
    data_why = "backup.data_size" if spec.data_bytes else f"assumed {DATA_PER_RAM[db_size]:g} × the db host's memory " \
                                                          f"(postgres.db_size {db_size}; set backup.data_size)"
    wal_day = spec.wal_per_day_bytes or int(data * WAL_PER_DAY_SHARE)
    wal_why = "backup.wal_per_day" if spec.wal_per_day_bytes else \
        f"assumed {WAL_PER_DAY_SHARE:.0%} of the data a day; set backup.wal_per_day from pg_stat_wal"
    days = spec.retention_full * DAYS_PER_FULL[spec.full]
    total = int(((spec.retention_full + 1) * data + days * wal_day) * ratio)
    return Setting(total, f"(({spec.retention_full} + 1) × {format_bytes_human(data)} of data ({data_why}) + {days} "
                          f"days × {format_bytes_human(wal_day)} of WAL ({wal_why})) × {ratio:g} for {spec.compress} "
                          f"= {format_bytes_human(total)}",
                   text=format_bytes_human(total), unit="bytes",
                   rule="(retention_full + 1) full copies + the retention window's WAL, compressed")


def repository_budget(settings: dict[str, Setting], disk: int | None) -> list[Budget]:
    if disk is None:
        return []
    used = settings["estimated repository size"].value
    return [Budget("backup repository disk", used, disk,
                   f"estimated {format_bytes_human(used)} {within(used, disk)} backup.repository_disk "
                   f"{format_bytes_human(disk)}", "give the repository more disk, keep fewer full backups "
                   "(backup.retention_full), or compress harder (backup.compress: zst)", "bytes")]


def with_backup(plan):
    """The plan with its backup policy (section `backup`), PostgreSQL's archive settings and, where
    the stack gives the repository a disk, its budget."""
    spec = plan.spec
    db = spec.host_with("db")
    settings = backup_policy(spec.backup, spec.hosts, plan.stack, plan.postgres_inputs.cpus or db.cpus,
                             db.memory_bytes, spec.postgres.db_size, spec.source_of)
    postgres = {**plan.postgres, **archive_settings(spec.backup, plan.stack, plan.placement.docker, spec.source_of,
                                                    settings["repository"].value[0])}
    alerts = backup_alerts(spec.backup.archive_timeout_ms // 1000, settings["newest backup at most"].value) \
        if postgres["archive_mode"].text == "on" else []
    plan = replace(plan, backup=settings, postgres=postgres, alerts=plan.alerts + alerts,
                   budgets=plan.budgets + repository_budget(settings, spec.backup.repository_disk_bytes))
    kind, where = settings["repository"].value
    return with_backup_servers(plan, where) if plan.placement.docker and kind == "host" else plan
