"""Sizes and durations: parsing stack-file text and formatting server-file text.

Memory is kept as whole kB (1 kB = 1024 bytes) inside the planner, as pgtune does, so that every
value round-trips exactly. Durations are kept as whole milliseconds.
"""
from __future__ import annotations

import re

KB = 1024
# Sizes in bytes: the one home of these constants (the planner, the loader and the reports use them).
KIB, MIB, GIB, TIB = 1024, 1024**2, 1024**3, 1024**4
MB_IN_KB = 1024
GB_IN_KB = 1024 * 1024
TB_IN_KB = 1024 * 1024 * 1024

# PostgreSQL, pgtune and the stack files treat kB/MB/GB/TB as powers of 1024 (PostgreSQL docs,
# "Parameter Names and Values"), and like PostgreSQL the units are case-sensitive: `Gb` (gigabits?)
# or a bare `16` (bytes? GB?) is refused, never guessed. The IEC spellings mean the same.
_SIZE_UNITS = {
    "B": 1,
    "kB": KB, "KiB": KB,
    "MB": KB**2, "MiB": KB**2,
    "GB": KB**3, "GiB": KB**3,
    "TB": KB**4, "TiB": KB**4,
}
_SIZE_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)$", re.ASCII)

_DURATION_UNITS_MS = {"ms": 1, "s": 1000, "min": 60_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|min|m|h|d)$", re.ASCII)


class UnitError(ValueError):
    """A size or duration that cannot be read. The message says what is accepted."""


def parse_size(value: str) -> int:
    """Bytes from `512MiB`, `16GB`, `1TB`: a number and one of B, kB, MB, GB, TB, KiB, MiB, GiB, TiB."""
    match = _SIZE_RE.match(value.strip()) if isinstance(value, str) else None
    if not match or match.group(2) not in _SIZE_UNITS:
        raise UnitError("a size with its unit, such as 512MiB, 16GB or 1TB (units B, kB, MB, GB, TB or KiB, "
                        "MiB, GiB, TiB, case as written)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def parse_duration_ms(value: str) -> int:
    """Milliseconds from `250ms`, `15s`, `10m`, `10min`, `1h`, `1d`: the unit is required."""
    match = _DURATION_RE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise UnitError("a duration with its unit, such as 250ms, 15s, 10m or 1h")
    return int(float(match.group(1)) * _DURATION_UNITS_MS[match.group(2)])


def format_kb(kb: int) -> str:
    """pgtune's `formatValue`: promote to MB/GB only when the value is an exact multiple."""
    if kb % GB_IN_KB == 0:
        return f"{kb // GB_IN_KB}GB"
    if kb % MB_IN_KB == 0:
        return f"{kb // MB_IN_KB}MB"
    return f"{kb}kB"


def format_bytes_human(n: int) -> str:
    """For reasons and tables: `32 GiB`, `1.5 GiB`, `768 MiB`."""
    for unit, size in (("TiB", KB**4), ("GiB", KB**3), ("MiB", KB**2), ("KiB", KB)):
        if n >= size:
            value = n / size
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return f"{n} B"


def with_human_size(text: str, n: int) -> str:
    """A byte count as a file receives it, with its human size beside it: `1073741824 (1 GiB)`.
    Smaller counts and anything that is not a plain number stay as written."""
    if text.isdigit() and n >= KIB:
        return f"{text} ({format_bytes_human(n)})"
    return text


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is at least `n` (whole numbers)."""
    return -(-n // multiple) * multiple


def ceil_div(n: int, d: int) -> int:
    """n / d rounded up, in whole numbers: how many `d`-sized pieces hold `n`."""
    return -(-n // d)


def utc_timestamp(seconds: float | None = None) -> str:
    """ISO 8601 in UTC to the second, `2026-12-06T01:55:51Z`: every timestamp tunestack writes."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def parse_seconds(value: str) -> float:
    """Seconds from a duration with its unit (`30s`, `5m`, `1.5h`). Flag-neutral: the caller names
    the flag or key in its own message."""
    return parse_duration_ms(value) / 1000


def format_ms(ms: int) -> str:
    """PostgreSQL's own display rule for times: the largest unit that divides exactly."""
    if ms == 0:
        return "0"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


# --- PostgreSQL setting values -------------------------------------------------------------------
# pg_settings reports a unit per integer/real setting: kB, 8kB, MB for memory, ms, s, min for time.
_PG_MEMORY_UNIT_KB = {"kB": 1, "8kB": 8, "MB": 1024, "16MB": 16 * 1024}
_PG_TIME_UNIT_MS = {"ms": 1, "s": 1000, "min": 60_000}
_PG_MEM_SUFFIX_KB = {"B": 1 / 1024, "kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}
_PG_TIME_SUFFIX_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_PG_NUMBER_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)\s*$")


def pg_value_in_base_units(text: str, unit: str | None) -> float:
    """A PostgreSQL integer/real value, as written or as SHOW prints it, in the setting's base unit.

    `unit` is pg_settings.unit. `SHOW shared_buffers` says `2GB` while pg_settings counts 8kB
    blocks; both sides are brought to the base unit so that they can be compared.
    """
    match = _PG_NUMBER_RE.match(str(text))
    if not match:
        raise UnitError(f"a number, optionally with a unit, not {text!r}")
    number, suffix = float(match.group(1)), match.group(2)
    if not suffix:
        return number
    if unit in _PG_MEMORY_UNIT_KB and suffix in _PG_MEM_SUFFIX_KB:
        return number * _PG_MEM_SUFFIX_KB[suffix] / _PG_MEMORY_UNIT_KB[unit]
    if unit in _PG_TIME_UNIT_MS and suffix in _PG_TIME_SUFFIX_MS:
        return number * _PG_TIME_SUFFIX_MS[suffix] / _PG_TIME_UNIT_MS[unit]
    raise UnitError(f"unit {suffix!r} does not fit a setting measured in {unit or 'plain numbers'}")


def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 app host`, `3 app hosts`: counts in reasons, budgets and reports."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def release(version: str) -> tuple[int, ...]:
    """`1.18` → (1, 18), `15.18` → (15, 18), `18beta1` → (18,): packaging's reading of a version."""
    from packaging.version import Version

    return Version(version).release
