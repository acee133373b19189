"""`tunestack COMMAND`: the parser built from one module per command (each `register(sub)` adds its
parser and sets its `run`), and the one mapping of errors to exit codes."""
from __future__ import annotations

import os
import sys

from .. import __version__
from ..errors import BudgetError, EnvironmentProblem, StackError, UsageError
from ..lock import LockHeld
from . import (advise, backup, bench, failover, images, local, plan, postgres, preview, render, review, rollout,
               schema, verify)
from .parser import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, Parser
from .stacks import resolve_stack

# In the order `tunestack --help` lists them (the README's command table follows it).
COMMANDS = (plan, render, postgres, preview, local, backup, failover, verify, advise, bench, review, rollout, images,
            schema)


def build_parser() -> Parser:
    parser = Parser(
        prog="tunestack",
        description="Plan, render and verify a tuned PostgreSQL + PgBouncer + Redis + app stack "
                    "from one stack file (stacks/Pulumi.<stack>.yaml).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command", parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..console import set_quiet
    from ..servers import environ

    parser = build_parser()
    parser.argv = argv or sys.argv[1:]
    args = parser.parse_args(argv)
    set_quiet(getattr(args, "quiet", False))
    # --stack-file may point the stacks folder elsewhere, --state-dir the state: for this command only.
    with environ(TUNESTACK_STACKS_DIR=os.environ.get("TUNESTACK_STACKS_DIR"),
                 TUNESTACK_STATE_DIR=getattr(args, "state_dir", None) or os.environ.get("TUNESTACK_STATE_DIR")):
        return run(args)


def run(args) -> int:
    try:
        resolve_stack(args)
        return args.func(args)
    except (StackError, BudgetError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (LockHeld, EnvironmentProblem) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT
