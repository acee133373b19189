"""When the next scheduled backup runs and which kind it is: a full one on the plan's full day
(every day for `full: daily`), a differential on every other day, at the plan's hour. Pure.

The local stack's scheduler asks `next_backup`; containers run the same schedule under cron,
as the lines `cron_entries` gives (cron(8) in the PostgreSQL image, UTC)."""
from __future__ import annotations

from datetime import datetime, timedelta


def next_backup(now: datetime, full: str, hour: int, full_weekday: int) -> tuple[datetime, str]:
    """(when, "full" | "diff") for the first backup after `now` (a UTC datetime)."""
    when = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if when <= now:
        when += timedelta(days=1)
    kind = "full" if full == "daily" or when.weekday() == full_weekday else "diff"
    return when, kind


def cron_entries(full: str, hour: int, full_weekday: int) -> list[tuple[str, str]]:
    """The schedule as crontab times (minute hour day-of-month month day-of-week) with the kind of
    backup each runs. crontab(5) counts the days of the week from Sunday = 0; datetime.weekday()
    from Monday = 0."""
    if full == "daily":
        return [(f"0 {hour} * * *", "full")]
    full_day = (full_weekday + 1) % 7
    others = ",".join(str(day) for day in range(7) if day != full_day)
    return [(f"0 {hour} * * {full_day}", "full"), (f"0 {hour} * * {others}", "diff")]
