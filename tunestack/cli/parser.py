"""The parser every command shares: exact flags with "did you mean", the exit codes in every
--help, and the options that mean the same everywhere (--stack, --format, --lock-wait, …)."""
from __future__ import annotations

import argparse
import difflib
import re
import sys

from ..choices import TARGETS
from ..errors import UsageError

EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3   # a missing package, an unreachable host, a held lock
EXIT_CODES = ("exit codes: 0 ok · 1 a check failed (verify, a rollout gate, a review that blocks) · 2 bad input "
              "(nothing was touched) · 3 the environment (a missing package or tool, an unreachable host or "
              "engine, a held lock)")
FORMATS = ("text", "json")
# What --format said before there was one set of choices: kept so that scripts keep working.
FORMAT_ALIASES = {"table": "text", "markdown": "text", "conf": "text"}


class Parser(argparse.ArgumentParser):
    """argparse, exact (no abbreviated flags) and with a "did you mean" for commands and flags."""

    def __init__(self, *a, **kw):
        kw.setdefault("allow_abbrev", False)
        kw.setdefault("epilog", EXIT_CODES)
        super().__init__(*a, **kw)

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}{did_you_mean(self, message)}\n"
                                  f"(`{self.prog} --help` lists what it takes)\n")


def did_you_mean(parser: argparse.ArgumentParser, message: str) -> str:
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        options = re.findall(r"'([^']*)'", choice.group(2))
        close = difflib.get_close_matches(choice.group(1), options, n=1)
        return f"; did you mean {close[0]!r}?" if close else ""
    unknown = re.search(r"unrecognized arguments: (.*)", message)
    if unknown:
        flags = [o for a in _all_actions(parser) for o in a.option_strings]
        hints = [f"{u} → {c[0]}" for u in unknown.group(1).split() if u.startswith("-")
                 for c in [difflib.get_close_matches(u.split("=")[0], flags, n=1)] if c]
        return f"; did you mean: {', '.join(hints)}?" if hints else ""
    return ""


def _all_actions(parser: argparse.ArgumentParser):
    """The parser's actions and those of the subcommand named on the command line."""
    actions = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if name in getattr(parser, "argv", sys.argv[1:]):
                    actions += sub._actions
    return actions


def flag_value(flag: str, text, parse):
    """`parse(text)`, or one UsageError naming the flag: the parsers themselves are flag-neutral."""
    try:
        return parse(text)
    except ValueError as exc:   # units.UnitError included
        raise UsageError(f"{flag} {text!r}: {exc}") from None


def _format(value: str) -> str:
    value = FORMAT_ALIASES.get(value, value)
    if value not in FORMATS:
        raise argparse.ArgumentTypeError(f"{value!r}: text or json")
    return value


def percent(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole percentage from 0 to 100, e.g. 25") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value}: a percentage from 0 to 100, e.g. 25")
    return value


def stack_options(p, path_ok: bool = False) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("-s", "--stack", metavar="NAME", help="stack name: stacks/Pulumi.NAME.yaml (default: local)")
    where.add_argument("--stack-file", metavar="PATH",
                       help="a stack file anywhere; named Pulumi.NAME.yaml it is stack NAME"
                            + (" (any name works here)" if path_ok else ""))


def report_options(p, what: str = "the report") -> None:
    p.add_argument("--format", type=_format, default="text", metavar="{text,json}",
                   help=f"{what} for people (text, default) or machines (json)")
    p.add_argument("-j", "--json", dest="format", action="store_const", const="json", help="same as --format json")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr (nor when CI is set)")


def lock_option(p) -> None:
    p.add_argument("--lock-wait", type=float, default=120, metavar="SECONDS",
                   help="how long to wait while another up/down/rollout holds the stack (default 120; then exit 3)")


def state_dir_option(p) -> None:
    p.add_argument("--state-dir", metavar="DIR",
                   help="where local stacks keep their state (default: /var/lib/tunestack as root, else "
                        "$XDG_STATE_HOME/tunestack; also TUNESTACK_STATE_DIR)")


def target_option(p) -> None:
    p.add_argument("--target", choices=TARGETS, default="hosts",
                   help="hosts: services installed as packages (default); docker: services in containers")
