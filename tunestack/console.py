"""Terminal output for people, JSON for machines. rich does the work: tables that wrap to the
terminal's width (80 columns when it cannot tell), colour only on a terminal and never with
NO_COLOR, and a spinner on waits longer than a moment. Progress goes to stderr, so stdout stays the
report (or the JSON); `--quiet` and CI (the CI variable) turn progress off."""
from __future__ import annotations

import contextlib
import json
import os
import sys

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

QUIET = {"on": False}


def out() -> Console:
    """stdout: the report."""
    return Console(highlight=False)


def err() -> Console:
    """stderr: progress, warnings and errors."""
    return Console(stderr=True, highlight=False)


def set_quiet(quiet: bool) -> None:
    QUIET["on"] = quiet or bool(os.environ.get("CI"))


def say(message: str) -> None:
    """A progress line on stderr, unless quiet."""
    if not QUIET["on"]:
        print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def waiting(message: str):
    """A spinner with `message` on stderr while the block runs (a plain line where stderr is not a
    terminal; nothing when quiet)."""
    if QUIET["on"]:
        yield
        return
    console = err()
    if not console.is_terminal:
        print(message, file=sys.stderr, flush=True)
        yield
        return
    with console.status(message):
        yield


@contextlib.contextmanager
def trimmed(console: Console):
    """Print through `console`, then write its lines without the trailing spaces rich pads with."""
    with console.capture() as captured:
        yield console
    sys.stdout.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


_CONTROL = {**{i: f"\\x{i:02x}" for i in (*range(0x20), 0x7f, *range(0x80, 0xa0))},
            ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord("\\"): "\\\\"}


def printable(text: str) -> str:
    """Text from a server (a query, a key, an error) made safe for a terminal: every control
    character, escape sequences included, written out as \\xNN, so nothing it holds can move the
    cursor, retitle the window or fake a line of the report."""
    return str(text).translate(_CONTROL)


def fit(line: str, indent: int = 6) -> str:
    """A report line wrapped at spaces to the terminal's width (80 where it cannot tell), its
    continuation lines indented: never a word or a number split."""
    import shutil
    import textwrap

    width = shutil.get_terminal_size((80, 24)).columns
    return "\n".join(textwrap.wrap(line, width, subsequent_indent=" " * indent, break_long_words=False,
                                    break_on_hyphens=False)) or line


def print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


WIDE = 120   # from here on, name | value | reason side by side; narrower, the reason goes below


def print_settings(console: Console, rows: list[tuple[str, str, str]]) -> None:
    """Settings under a section title: side by side on a wide terminal, else `name = value` with its
    reason wrapped below it. Either way no line is wider than the terminal."""
    if console.width >= WIDE:
        table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
        table.add_column("name", no_wrap=True, style="bold")
        table.add_column("value", overflow="fold", max_width=30, style="cyan")
        table.add_column("reason", overflow="fold", ratio=1)
        for name, value, reason in rows:
            table.add_row("  " + name, value, reason)
        console.print(table)
        return
    for name, value, reason in rows:
        console.print(Text.assemble("  ", (name, "bold"), " = ", (value or "''", "cyan")), overflow="fold")
        console.print(Padding(Text(reason, style="dim"), (0, 0, 0, 6), expand=False), overflow="fold")


@contextlib.contextmanager
def bar(description: str, total: float):
    """A progress bar on stderr for a wait of known length: yields `advance_to(done)`. On a
    terminal only, and not when quiet: elsewhere the caller's own lines say the progress."""
    console = err()
    if QUIET["on"] or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)
