"""Reading an existing postgresql.conf and writing recommendations as ALTER SYSTEM. Pure.

The grammar is PostgreSQL's own (src/backend/utils/misc/guc-file.l and the docs, "Parameter
Interaction via the Configuration File"): one `name = value` or `name value` per line; `#` starts a
comment except inside a quoted value; a quoted value is in single quotes, with '' or \\' for a
quote; names are case-insensitive; the last setting of a name wins. include directives are
reported, not followed (the file may name paths on another machine)."""
from __future__ import annotations

import re

_LINE = re.compile(r"""^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?\s*
                       ('(?:[^'\\\n]|\\.|'')*'|[^\s#']+)?   # a quoted or a bare value
                       \s*(?:\#.*)?$""", re.X)
INCLUDES = ("include", "include_if_exists", "include_dir")


class ConfError(ValueError):
    """A line PostgreSQL would refuse: the message names the line."""


def _unquote(value: str) -> str:
    if not value.startswith("'"):
        return value
    body = value[1:-1]
    return re.sub(r"''|\\(.)", lambda m: "'" if m.group(0) == "''" else m.group(1), body)


def parse_conf(text: str) -> tuple[dict[str, str], list[str]]:
    """`(settings, includes)`: each setting's value as PostgreSQL reads it, by lower-case name."""
    settings: dict[str, str] = {}
    includes: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match or match.group(2) is None:
            raise ConfError(f"line {number}: {line.strip()!r} is not `name = value`")
        name, value = match.group(1).lower(), _unquote(match.group(2))
        if name in INCLUDES:
            includes.append(value)
        else:
            settings[name] = value
    return settings, includes


def quote_literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings on: only the quote is doubled)."""
    return "'" + value.replace("'", "''") + "'"


def alter_system(values: dict[str, str]) -> str:
    """ALTER SYSTEM statements for `values` (PostgreSQL docs, ALTER SYSTEM: written to
    postgresql.auto.conf; most take effect at the next reload, some at the next restart)."""
    return "".join(f"ALTER SYSTEM SET {name} = {quote_literal(value)};\n" for name, value in values.items())
