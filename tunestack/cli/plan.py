"""`tunestack plan`: validate a stack file and print every setting with its reason."""
from __future__ import annotations

import sys

from ..choices import PG_VERSIONS
from ..console import print_json
from ..errors import BudgetError
from .parser import EXIT_BAD_INPUT, report_options, stack_options
from .stacks import plan_from_args


def register(sub) -> None:
    p = sub.add_parser("plan", help="validate a stack file and print every setting with its reason",
                       description="Validate a stack file, compute every setting with its reason and check "
                                   "the budgets. Exits 2 on a bad stack file or a broken budget.")
    stack_options(p, path_ok=True)
    report_options(p, "the plan")
    p.add_argument("--pg-version", type=int, choices=PG_VERSIONS,
                   help="plan for another PostgreSQL major than the stack file names")
    p.set_defaults(func=run)


def run(args) -> int:
    plan = plan_from_args(args, strict=False)
    if args.format == "json":
        print_json(plan.to_json())
    else:
        print_plan(plan)
    if plan.violations:
        print(str(BudgetError(plan.stack, plan.violations, plan.spec.path)), file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def shown_value(s) -> str:
    """A setting's text as its file receives it, with the human size beside exact bytes."""
    from ..units import with_human_size

    if s.unit == "bytes" and isinstance(s.value, int):
        return with_human_size(s.text, s.value)
    return s.text


def print_plan(plan) -> None:
    """Every section as a table that wraps to the terminal (80 columns when it cannot tell)."""
    from rich.padding import Padding
    from rich.text import Text

    from ..console import out, print_settings, trimmed
    from ..units import format_bytes_human, plural

    with trimmed(out()) as console:
        console.print(Text(f"stack {plan.stack}  ({plan.spec.path})", style="bold"))
        console.print("\nhosts", style="bold underline")
        for h in plan.hosts:
            console.print(Text(f"  {h.name} ×{h.count}: {','.join(h.roles)}, {plural(h.cpus, 'cpu')}, "
                               f"{format_bytes_human(h.memory_bytes)}  [{h.shape_source}]"))
        for section, settings in plan.sections().items():
            console.print("\n" + section, style="bold underline")
            print_settings(console, [(name, shown_value(s), s.reason + (" [override]" if s.source == "override" else ""))
                                     for name, s in settings.items()])
        console.print("\nbudgets", style="bold underline")
        for b in plan.budgets:
            mark = Text("ok", style="green") if b.ok else Text("BROKEN", style="bold red")
            console.print(Text.assemble("  [", mark, f"] {b.name}"))
            console.print(Padding(Text(b.arithmetic, style="dim"), (0, 0, 0, 6), expand=False))
        if plan.warnings:
            console.print("\nwarnings", style="bold underline")
            for w in plan.warnings:
                console.print(Text(f"  - {w}", style="yellow"))
