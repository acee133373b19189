"""Errors a user can act on. The CLI prints them and exits 2; nothing else has run by then."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Problem:
    file: str
    key_path: str      # e.g. config → tunestack:postgres → workload
    value: object
    allowed: str
    fix: str = ""
    line: int | None = None   # where in the file, when it has one (a key that is missing: its parent's)

    def render(self) -> str:
        shown = masked_secrets(self.value)
        value = shown if isinstance(shown, str) else repr(shown)
        if self.value is _MISSING:
            value = "(missing)"
        where = f"{self.file}:{self.line}" if self.line else self.file
        lines = [f"{where}: {self.key_path}", f"  value:   {value}", f"  allowed: {self.allowed}"]
        if self.fix:
            lines.append(f"  fix:     {self.fix}")
        return "\n".join(lines)


SECRET_MASK = "••••••"


def masked_secrets(value):
    """A value as an error may show it: every `secure:` value (a Pulumi secret's ciphertext), at any
    depth and under any key, masked."""
    if isinstance(value, dict):
        return {k: SECRET_MASK if k == "secure" else masked_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked_secrets(v) for v in value]
    return value


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


_MISSING = _Missing()
MISSING = _MISSING


@dataclass
class StackError(Exception):
    """One or more problems in a stack file, found before anything is planned or touched."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        head = "invalid stack file" if len(self.problems) == 1 else f"{len(self.problems)} problems in stack file"
        return head + ":\n" + "\n".join(p.render() for p in self.problems)


@dataclass
class BudgetError(Exception):
    """A plan whose budgets do not hold: the arithmetic and a fix, per broken budget."""

    stack: str
    violations: list  # list[budgets.Budget]
    path: str = ""    # the stack file

    def __str__(self) -> str:
        where = f" ({self.path})" if self.path else ""
        lines = [f"stack {self.stack}{where}: {len(self.violations)} budget{'s' if len(self.violations) != 1 else ''} broken"]
        for b in self.violations:
            lines.append(f"- {b.name}: {b.arithmetic}")
            lines.append(f"  fix: {b.fix}")
        return "\n".join(lines)


class UsageError(Exception):
    """Bad command-line input (unknown stack, bad flag value)."""


class EnvironmentProblem(Exception):
    """The machine or network is not as the command needs it: a missing package or tool, an
    unreachable host or engine. Exit code 3; nothing was changed."""
