"""The backup policy (plan/backup.py, issue #27 point 1): where the repository goes, the schedule,
retention, RPO and what the repository costs in disk, each with its reason."""
from dataclasses import replace

import pytest

from tunestack.plan import build_plan
from tunestack.plan.backup import backup_policy, estimate, repository_budget
from tunestack.stackfile.spec import BackupSpec

from .helpers import GIB, host, spec


def by_default(name):
    s = spec(name)
    return s.name, build_plan(s).backup


@pytest.mark.parametrize("stack,expected", [
    # pgBackRest User Guide, "Dedicated Repository Host": a lost db host keeps its backups
    ("prod", "host: cache"),
    ("staging", "host: cache"),
    # one machine: the repository can only share its disk (copy it off, or name S3)
    ("dev", "path: /var/lib/pgbackrest"),
])
def test_the_repository_goes_to_another_host_when_the_stack_has_one(stack, expected):
    assert by_default(stack)[1]["repository"].text == expected


def test_archiving_bounds_the_loss_of_a_db_host_to_archive_timeout():
    """PostgreSQL docs 26.3.1: archive_timeout forces a segment switch, bounding how old unarchived
    WAL can be."""
    pg = build_plan(spec("prod")).postgres
    assert (pg["archive_mode"].text, pg["archive_timeout"].text) == ("on", "60s")
    assert pg["archive_command"].text == "pgbackrest --stanza=prod archive-push %p"


def test_containers_do_not_archive_to_s3_they_cannot_reach():
    """PostgreSQL docs 26.3.1: while archive_command fails, WAL segments stay in pg_wal. The keys
    of an S3 repository are not delivered to containers yet, so archiving stays off, with why."""
    s3 = BackupSpec(repository_kind="s3", repository="backups", s3_region="eu-west-1")
    pg = build_plan(replace(spec("prod"), backup=s3), target="docker").postgres
    assert pg["archive_mode"].text == "off" and "until the disk fills" in pg["archive_mode"].reason
    assert "archive_command" not in pg


@pytest.mark.parametrize("retention,full,data,wal,compress,expected_gib", [
    (2, "weekly", 100, 10, "lz4", (3 * 100 + 14 * 10) * 0.5),
    (4, "weekly", 100, 5, "zst", (5 * 100 + 28 * 5) * 0.35),
    (7, "daily", 20, 2, "gz", (8 * 20 + 7 * 2) * 0.4),
])
def test_the_estimate_counts_every_full_kept_one_more_and_the_windows_wal(retention, full, data, wal, compress,
                                                                        expected_gib):
    b = BackupSpec(retention_full=retention, full=full, data_bytes=data * GIB, wal_per_day_bytes=wal * GIB,
                   compress=compress)
    assert estimate(b, 64 * GIB, "mid_ram").value == pytest.approx(expected_gib * GIB, rel=1e-6)


def test_without_sizes_the_estimate_says_what_it_assumed():
    reason = estimate(BackupSpec(), 16 * GIB, "greater_ram").reason
    assert "assumed 4 × the db host's memory" in reason and "set backup.wal_per_day" in reason


def test_a_repository_disk_is_a_budget():
    settings = backup_policy(BackupSpec(data_bytes=100 * GIB, wal_per_day_bytes=10 * GIB, repository_disk_bytes=GIB),
                             (host(8, 32, roles=("db",), name="db"),), "t", 8, 32 * GIB, "mid_ram", lambda k: "default")
    (budget,) = repository_budget(settings, GIB)
    assert not budget.ok and "backup.retention_full" in budget.fix
    plan = build_plan(replace(spec("staging"), backup=BackupSpec(data_bytes=GIB, repository_disk_bytes=100 * GIB)))
    assert any(b.name == "backup repository disk" and b.ok for b in plan.budgets)


def test_process_max_takes_a_quarter_of_the_db_cores():
    """pgBackRest: process-max parallelises backup and restore; a quarter leaves the workload its cores."""
    hosts = (host(16, 64, roles=("db",), name="db"),)
    assert backup_policy(BackupSpec(), hosts, "t", 16, 64 * GIB, "mid_ram", lambda k: "default")["process-max"].value == 4
    assert backup_policy(BackupSpec(), hosts, "t", 2, 64 * GIB, "mid_ram", lambda k: "default")["process-max"].value == 1
