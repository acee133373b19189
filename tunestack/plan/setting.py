"""The unit of a plan: a typed value, the text files receive, the reason, and where it came from.

`value` is what budgets, review, the local stack and rollouts compute with: a number in its base
unit where it is one (bytes for memory, milliseconds for time), else the plain value. `text` is
exactly what a config file or process receives. Nobody parses `text` back.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..units import format_kb, format_ms

SOURCES = ("stack file", "default", "computed", "policy", "override")


@dataclass(frozen=True)
class Setting:
    value: object
    reason: str
    source: str = "computed"     # one of SOURCES
    text: str = ""               # as written to files; str(value) unless given
    unit: str = ""               # "bytes" | "ms" | "" (a plain number, word or list)
    # The reason without the numbers that move while the value does not (a rounding, a floor, a
    # cap): what rendered files say, so that a file changes only when a value does. "" = reason.
    rule: str = ""

    @property
    def file_reason(self) -> str:
        return self.rule or self.reason

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"source {self.source!r}: one of {SOURCES}")
        if not self.text:
            object.__setattr__(self, "text", _text_of(self.value))

    def to_json(self) -> dict:
        value = [v.to_json() if hasattr(v, "to_json") else v for v in self.value] \
            if isinstance(self.value, tuple) else self.value
        return {"value": value, "text": self.text, "unit": self.unit, "reason": self.reason,
                "source": self.source, **({"rule": self.rule} if self.rule else {})}


def _text_of(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def chosen(value: object, key: str, source_of, default_why: str) -> Setting:
    """A value the stack file may set at `key`: its reason says which it was, the file's own value
    or the default and why that default (a plan never calls a default "stack file")."""
    source = source_of(key)
    # The files keep the words they have always had: a comment that changed with the source would
    # replace the server's container (its config file is part of it) for no change of value.
    return Setting(value, f"stack file: {key}" if source == "stack file" else f"default: {default_why}", source,
                   rule="stack file")


def policy(value: object, reason: str) -> Setting:
    """A rule of the project, not arithmetic: PgBouncer's auth type, Redis' keepalive."""
    return Setting(value, reason, "policy")


def size_kb(kb: int, reason: str, source: str = "computed") -> Setting:
    """A memory setting planned in whole kB (as pgtune does), written the way pgtune writes it."""
    return Setting(kb * 1024, reason, source, text=format_kb(kb), unit="bytes")


def duration_ms(ms: int, reason: str, source: str = "computed") -> Setting:
    """A PostgreSQL time setting: milliseconds, written in the largest unit that divides exactly."""
    return Setting(ms, reason, source, text=format_ms(ms), unit="ms")


def seconds(ms: int, reason: str, source: str = "computed", rule: str = "") -> Setting:
    """A time for servers that take whole seconds (PgBouncer, HAProxy, Gunicorn, env files)."""
    return Setting(ms, reason, source, text=str(ms // 1000), unit="ms", rule=rule)
