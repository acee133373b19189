"""When the next scheduled backup runs and which kind it is: a full one on the plan's full day
(every day for `full: daily`), a differential on every other day, at the plan's hour. Pure."""
from __future__ import annotations

from datetime import datetime, timedelta


def next_backup(now: datetime, full: str, hour: int, full_weekday: int) -> tuple[datetime, str]:
    """(when, "full" | "diff") for the first backup after `now` (a UTC datetime)."""
    when = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if when <= now:
        when += timedelta(days=1)
    kind = "full" if full == "daily" or when.weekday() == full_weekday else "diff"
    return when, kind
