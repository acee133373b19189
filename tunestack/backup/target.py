"""`restore --to TIME|LSN|latest`: what the user asked for, checked against the backups that exist
before anything is touched, and the backup set and pgBackRest options that reach it. Pure.

pgBackRest User Guide, "Point-in-Time Recovery": a time target needs a backup that stopped before
it ("unable to find backup set with stop time less than"), so the oldest backup's stop is the
earliest target; PostgreSQL replays to the target and, with target-action=promote, opens for
writes there."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
FORMS = ("latest (all archived WAL)", "a time with its offset, e.g. 2026-12-06T10:30:00Z or 2026-12-06 11:30:00+01:00",
         "an LSN, e.g. 0/3000060")


class TargetError(ValueError):
    """A target that no backup can reach, or that is no target at all."""


@dataclass(frozen=True)
class Backup:
    """One backup in the repository, as pgBackRest's `info` reports it."""
    label: str
    type: str              # full | diff | incr
    start: float           # epoch seconds
    stop: float
    lsn_start: str
    lsn_stop: str
    size: int              # bytes of the database at backup time
    repo_size: int         # bytes it takes in the repository (compressed)


@dataclass(frozen=True)
class Target:
    kind: str              # latest | time | lsn
    text: str = ""         # the time as pgBackRest reads it, or the LSN
    at: float | None = None  # epoch seconds, for a time

    def describe(self) -> str:
        return {"latest": "the end of the archived WAL", "time": f"time {self.text}", "lsn": f"LSN {self.text}"}[self.kind]


def lsn_value(lsn: str) -> int:
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def parse_target(text: str) -> Target:
    text = text.strip()
    if text == "latest":
        return Target("latest")
    if LSN.match(text):
        return Target("lsn", text.upper())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TargetError(f"{text!r} is not a restore target; allowed: {'; '.join(FORMS)}") from None
    if moment.tzinfo is None:
        raise TargetError(f"{text!r} has no time zone: a restore target must say which moment it means; add Z for "
                          "UTC or an offset such as +01:00")
    utc = moment.astimezone(timezone.utc)
    return Target("time", utc.strftime("%Y-%m-%d %H:%M:%S.%f+00"), utc.timestamp())


def choose_backup(target: Target, backups: list[Backup], now: float, current_lsn: str | None = None) -> Backup:
    """The newest backup that stopped before the target: recovery starts there. Refused: no
    backup at all, a target before the oldest backup's stop, a time in the future, an LSN past
    the server's current one."""
    done = sorted(backups, key=lambda b: b.stop)
    if not done:
        raise TargetError("the repository holds no backup yet; take one first: tunestack backup")
    oldest = done[0]
    if target.kind == "latest":
        return done[-1]
    if target.kind == "time":
        if target.at > now:
            raise TargetError(f"{target.text} is in the future (now {_utc(now)}); allowed: a time from "
                              f"{_utc(oldest.stop)} (the oldest backup's end) to now, or latest")
        usable = [b for b in done if b.stop < target.at]
        if not usable:
            raise TargetError(f"{target.text} is before the oldest backup ended ({_utc(oldest.stop)}, {oldest.label}); "
                              f"nothing can be restored to it. Allowed: a time from {_utc(oldest.stop)} to now")
        return usable[-1]
    if current_lsn and lsn_value(target.text) > lsn_value(current_lsn):
        raise TargetError(f"LSN {target.text} is past the server's current one ({current_lsn}): WAL that does not "
                          "exist yet")
    usable = [b for b in done if lsn_value(b.lsn_stop) <= lsn_value(target.text)]
    if not usable:
        raise TargetError(f"LSN {target.text} is before the oldest backup ended (LSN {oldest.lsn_stop}, "
                          f"{oldest.label}); allowed: an LSN from {oldest.lsn_stop} on")
    return usable[-1]


def restore_options(target: Target, backup: Backup) -> list[str]:
    """pgBackRest's restore options: from `backup`, replay to the target, then open for writes."""
    if target.kind == "latest":
        return [f"--set={backup.label}"]
    return [f"--set={backup.label}", f"--type={target.kind}", f"--target={target.text}", "--target-action=promote"]


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
