"""What every section's checks share: the file's config mapping, the problems found so far, the
keys the file sets, and the readers of sizes and durations that turn bad text into a problem."""
from __future__ import annotations

from ..errors import Problem
from ..units import UnitError, parse_duration_ms, parse_size
from .aws import InstanceTypeResolver
from .problems import path_text
from .schema import NS


def given(section: dict, **names: str) -> dict:
    """Spec keyword → value for the stack-file keys `section` sets: the spec's own defaults fill
    the rest. `names` maps each spec field to its stack-file key."""
    return {field: section[key] for field, key in names.items() if key in section}


def present(**values) -> dict:
    """The keyword arguments whose value was read (not None): parsed sizes and durations."""
    return {k: v for k, v in values.items() if v is not None}


class Checker:
    """Semantic checks after the schema: arithmetic, lookups and cross-key rules, section by section."""

    def __init__(self, file: str, config: dict, resolver: InstanceTypeResolver):
        self.file = file
        self.config = config
        self.resolver = resolver
        self.problems: list[Problem] = []
        self.given: set[str] = set()

    def section(self, name: str, default=None):
        """`tunestack:<name>` of the file (the schema has checked it is there when required)."""
        if default is None:
            return self.config[f"{NS}:{name}"]
        return self.config.get(f"{NS}:{name}", default)

    def note_given(self, section: str, mapping: dict, prefix: str = "") -> None:
        for key in mapping:
            self.given.add(f"{section}.{prefix}{key}")

    def problem(self, path: list, value, allowed: str, fix: str) -> None:
        self.problems.append(Problem(self.file, path_text(["config"] + path), value, allowed, fix))

    def _read(self, path: list, value, parse, example: str):
        """`parse(value)`, or None after recording what is accepted and an example."""
        try:
            return parse(value)
        except UnitError as exc:
            self.problem(path, value, str(exc), f"write {example}")
            return None

    def size(self, path: list, value) -> int | None:
        """Bytes, or None when the key is absent (the spec's default applies)."""
        if value is None:
            return None
        n = self._read(path, value, parse_size, "a size such as 512MiB")
        if n is None:
            return 0
        if n <= 0:
            self.problem(path, value, "a size above zero", "write a size such as 512MiB")
        return n

    def duration(self, path: list, value, whole_seconds: bool = False, minimum_ms: int = 0) -> int | None:
        """Milliseconds, or None when the key is absent (the spec's default applies).

        `whole_seconds`: the value reaches servers that count in seconds (PgBouncer, HAProxy,
        Gunicorn), so 1500ms would silently become 1 s there and 500ms would turn the timeout off."""
        if value is None:
            return None
        ms = self._read(path, value, parse_duration_ms, "a duration such as 15s")
        if ms is None:
            return None
        if ms < minimum_ms:
            self.problem(path, value, f"at least {minimum_ms // 1000 or minimum_ms}"
                         + (" s" if minimum_ms >= 1000 else " ms"), "write a longer duration, e.g. 30s")
        elif whole_seconds and ms % 1000:
            self.problem(path, value, "whole seconds: PgBouncer, HAProxy and the app servers count in seconds",
                         f"write {max(1, round(ms / 1000))}s")
        return ms
