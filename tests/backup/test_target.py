"""Restore targets (tunestack/backup/target.py): what `restore --to` accepts, which backup a
target starts from, and what is refused before anything is touched (issue #27)."""
from datetime import datetime, timezone

import pytest

from tunestack.backup.target import Backup, TargetError, choose_backup, lsn_value, parse_target, restore_options


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def backup(label, start, stop, lsn_start="0/2000028", lsn_stop="0/2000100", kind="full"):
    return Backup(label, kind, at(start), at(stop), lsn_start, lsn_stop, 30_000_000, 6_000_000)


FULL = backup("20261206-100000F", "2026-12-06T10:00:00+00:00", "2026-12-06T10:00:05+00:00", "0/2000028", "0/2000100")
DIFF = backup("20261206-100000F_20261206-110000D", "2026-12-06T11:00:00+00:00", "2026-12-06T11:00:03+00:00",
              "0/5000028", "0/5000100", "diff")
NOW = at("2026-12-06T12:00:00+00:00")


@pytest.mark.parametrize("text,kind,value", [
    ("latest", "latest", ""),
    ("0/3000060", "lsn", "0/3000060"),
    ("1a/ff", "lsn", "1A/FF"),
    # every zone is turned into UTC, the form pgBackRest passes to recovery_target_time
    ("2026-12-06T10:30:00Z", "time", "2026-12-06 10:30:00.000000+00"),
    ("2026-12-06 11:30:00+01:00", "time", "2026-12-06 10:30:00.000000+00"),
    ("2026-12-06T10:30:00.250000+00:00", "time", "2026-12-06 10:30:00.250000+00"),
])
def test_a_target_is_latest_an_lsn_or_a_time_with_its_zone(text, kind, value):
    target = parse_target(text)
    assert (target.kind, target.text) == (kind, value)


@pytest.mark.parametrize("text,says", [
    ("2026-12-06 10:30:00", "no time zone"),      # which 10:30? a restore must not guess
    ("yesterday", "allowed: latest"),
    ("0/XYZ", "allowed: latest"),
    ("", "allowed: latest"),
])
def test_what_is_no_target_is_refused_with_the_forms_allowed(text, says):
    with pytest.raises(TargetError, match=says):
        parse_target(text)


@pytest.mark.parametrize("to,expected", [
    ("2026-12-06T10:30:00Z", FULL),          # between the full and the differential
    ("2026-12-06T11:00:04Z", DIFF),          # just after the differential ended: it is the nearer start
    ("2026-12-06T11:00:02Z", FULL),          # the differential had not ended yet
    ("latest", DIFF),
    ("0/4000000", FULL),
    ("0/5000100", DIFF),
])
def test_recovery_starts_from_the_newest_backup_that_ended_before_the_target(to, expected):
    """pgBackRest User Guide, Point-in-Time Recovery: the backup set must stop before the target."""
    assert choose_backup(parse_target(to), [DIFF, FULL], NOW, "0/9000000") == expected


@pytest.mark.parametrize("to,says", [
    ("2026-12-06T10:00:03Z", "before the oldest backup ended"),   # the full was still running
    ("2026-12-06T09:00:00Z", "before the oldest backup ended"),
    ("2026-12-06T12:00:01Z", "in the future"),
    ("0/1000000", "before the oldest backup ended"),
    ("0/A000000", "past the server's current one"),
])
def test_a_target_no_backup_can_reach_is_refused(to, says):
    with pytest.raises(TargetError, match=says):
        choose_backup(parse_target(to), [FULL, DIFF], NOW, "0/9000000")


def test_with_no_backup_the_fix_is_to_take_one():
    with pytest.raises(TargetError, match="tunestack backup"):
        choose_backup(parse_target("latest"), [], NOW)


def test_lsns_compare_as_numbers_not_text():
    assert lsn_value("0/A000000") > lsn_value("0/9000000") and lsn_value("1/0") > lsn_value("0/FFFFFFFF")


def test_a_targeted_restore_promotes_at_the_target_and_names_its_backup():
    """pgBackRest: target-action=promote opens the restored cluster for writes once the target is
    reached; without a target, recovery replays all archived WAL and promotes at its end."""
    assert restore_options(parse_target("2026-12-06T10:30:00Z"), FULL) == [
        "--set=20261206-100000F", "--type=time", "--target=2026-12-06 10:30:00.000000+00", "--target-action=promote"]
    assert restore_options(parse_target("latest"), DIFF) == ["--set=20261206-100000F_20261206-110000D"]
