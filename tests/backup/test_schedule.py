"""When scheduled backups run (tunestack/backup/schedule.py): a full one on the full day, a
differential on the others, at the plan's hour (issue #27 point 1)."""
from datetime import datetime, timedelta, timezone

import pytest

from tunestack.backup.schedule import cron_entries, next_backup
from tunestack.plan.backup import FULL_WEEKDAY

SUNDAY = 6


def utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("now,full,expected,kind", [
    ("2026-12-05T12:00:00", "weekly", "2026-12-06T01:00:00", "full"),    # Saturday noon → Sunday night: full
    ("2026-12-06T00:59:59", "weekly", "2026-12-06T01:00:00", "full"),
    ("2026-12-06T01:00:00", "weekly", "2026-12-07T01:00:00", "diff"),    # the hour itself has just run
    ("2026-12-08T23:00:00", "weekly", "2026-12-09T01:00:00", "diff"),
    ("2026-12-08T23:00:00", "daily", "2026-12-09T01:00:00", "full"),
])
def test_the_next_backup_and_its_kind(now, full, expected, kind):
    assert next_backup(utc(now), full, 1, SUNDAY) == (utc(expected), kind)


@pytest.mark.parametrize("full", ["weekly", "daily"])
def test_cron_runs_the_same_schedule_as_the_local_scheduler(full):
    """Containers run the schedule under cron (crontab(5): day of week 0 = Sunday): over two weeks,
    every hour at which the local scheduler would run a backup, cron's lines run exactly that kind."""
    entries = cron_entries(full, 1, FULL_WEEKDAY)
    start = datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc)
    for day in range(14):
        when, kind = next_backup(start + timedelta(days=day), full, 1, FULL_WEEKDAY)
        cron_day = (when.weekday() + 1) % 7
        matching = [k for spec, k in entries if spec.split()[:2] == ["0", "1"] and
                    (spec.split()[4] == "*" or str(cron_day) in spec.split()[4].split(","))]
        assert matching == [kind], (when, entries)


def test_a_weekly_full_backup_lands_on_sunday_in_crons_numbering():
    assert cron_entries("weekly", 1, SUNDAY) == [("0 1 * * 0", "full"), ("0 1 * * 1,2,3,4,5,6", "diff")]
