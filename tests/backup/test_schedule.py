"""When scheduled backups run (tunestack/backup/schedule.py): a full one on the full day, a
differential on the others, at the plan's hour (issue #27 point 1)."""
from datetime import datetime, timezone

import pytest

from tunestack.backup.schedule import next_backup

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
