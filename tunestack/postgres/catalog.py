"""PostgreSQL's own catalog of settings, per major version: type, unit, valid range, enum values.

Each major's catalog is `pg_settings` read from a real server of that major
(`data/pg<N>_settings.json`, refreshed with `python -m tunestack.postgres.refresh`). Enum values
that depend on how a server was built (lz4, zstd) are listed whatever the build: whether the target
server has them is a stack input (postgres.lz4), never read from this catalog.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..choices import PG_VERSIONS as SUPPORTED_VERSIONS
from ..units import MIB, UnitError, format_kb, format_ms, pg_value_in_base_units


_MEMORY_UNIT_BYTES = {"B": 1, "kB": 1024, "8kB": 8192, "MB": MIB, "16MB": 16 * MIB}
_TIME_UNIT_MS = {"ms": 1, "s": 1000, "min": 60_000}


@dataclass(frozen=True)
class Guc:
    name: str
    vartype: str  # bool | integer | real | enum | string
    unit: str | None
    min: float | None
    max: float | None
    enumvals: tuple[str, ...] | None
    context: str
    default: str | None = None   # boot_val: PostgreSQL's own default, in the setting's unit

    def check(self, text: str) -> str | None:
        """None when `text` is a valid value for this setting, else what is allowed."""
        if self.vartype == "bool":
            if str(text).lower() in {"on", "off", "true", "false", "yes", "no", "1", "0"}:
                return None
            return "on or off"
        if self.vartype == "enum":
            if self.enumvals and str(text).lower() in {v.lower() for v in self.enumvals}:
                return None
            return "one of " + ", ".join(self.enumvals or ())
        if self.vartype == "string":
            return None
        allowed = self.describe_range()
        try:
            number = pg_value_in_base_units(str(text), self.unit)
        except UnitError as exc:
            return f"{allowed} ({exc})"
        if self.vartype == "integer":
            # PostgreSQL rounds a value given in another unit to the nearest base unit
            # (docs, "Parameter Names and Values"), e.g. wal_buffers = 13271kB → 1659 × 8kB.
            number = round(number)
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            return allowed
        return None

    def same(self, planned: str, reported: str) -> bool:
        """Whether the server's report (SHOW, postgres -C) is the planned value, units aside."""
        a, b = str(planned).strip().strip("'"), str(reported).strip().strip("'")
        if self.vartype == "bool":
            truthy = {"on", "true", "yes", "1"}
            return (a.lower() in truthy) == (b.lower() in truthy)
        if self.vartype in ("integer", "real"):
            x, y = pg_value_in_base_units(a, self.unit), pg_value_in_base_units(b, self.unit)
            if self.vartype == "integer":
                return round(x) == round(y)
            return abs(x - y) <= 1e-9 * max(1.0, abs(x))
        if self.vartype == "enum":
            return a.lower() == b.lower()
        return a == b

    def typed(self, text: str) -> tuple[object, str]:
        """A valid value as (number in base unit, unit): bytes for memory, ms for time, else the
        plain number or the text. Used once, when a stack-file override enters the plan."""
        if self.vartype not in ("integer", "real"):
            return text, ""
        number = pg_value_in_base_units(str(text), self.unit)
        if self.unit in _MEMORY_UNIT_BYTES:
            return (int(number * _MEMORY_UNIT_BYTES[self.unit]) if number >= 0 else int(number)), "bytes"
        if self.unit in _TIME_UNIT_MS:
            return (int(number * _TIME_UNIT_MS[self.unit]) if number >= 0 else int(number)), "ms"
        return (round(number) if self.vartype == "integer" else number), ""

    @property
    def shown_default(self) -> str | None:
        """The default as postgresql.conf would write it (`4MB`, `5min`), not in the setting's base
        unit (`4096`, `300`): one unit per line where a recommendation stands beside it."""
        if self.default is None or self.vartype not in ("integer", "real"):
            return self.default
        number = float(self.default)
        if number < 0:
            return self.default   # -1: "chosen by the server" (wal_buffers, autovacuum_work_mem)
        if self.unit in _MEMORY_UNIT_BYTES:
            return format_kb(int(number * _MEMORY_UNIT_BYTES[self.unit]) // 1024)
        if self.unit in _TIME_UNIT_MS:
            return format_ms(int(number * _TIME_UNIT_MS[self.unit]))
        return self.default

    def describe_range(self) -> str:
        unit = f" × {self.unit}" if self.unit else ""
        lo = _plain(self.min)
        hi = _plain(self.max)
        return f"between {lo} and {hi}{unit}"


def _plain(x: float | None) -> str:
    if x is None:
        return "?"
    return str(int(x)) if x == int(x) else str(x)


@lru_cache(maxsize=None)
def catalog(version: int) -> dict[str, Guc]:
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"PostgreSQL {version} is not supported; supported: {SUPPORTED_VERSIONS}")
    rows = json.loads(resources.files("tunestack.data").joinpath(f"pg{version}_settings.json").read_text())
    out = {}
    for name, row in rows.items():
        vartype, unit, lo, hi, enumvals, context = row[:6]
        out[name] = Guc(name=name, vartype=vartype, unit=unit, min=float(lo) if lo is not None else None,
                        max=float(hi) if hi is not None else None, enumvals=tuple(enumvals) if enumvals else None,
                        context=context, default=row[6] if len(row) > 6 else None)
    return out
