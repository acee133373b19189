"""`tunestack plan`: validate a stack file and print every setting with its reason."""
from __future__ import annotations

import sys

from ..choices import PG_VERSIONS
from ..console import print_json
from ..errors import BudgetError, UsageError
from .parser import EXIT_BAD_INPUT, report_options, stack_options, target_option
from .stacks import plan_from_args


def register(sub) -> None:
    p = sub.add_parser("plan", help="validate a stack file and print every setting with its reason",
                       description="Validate a stack file, compute every setting with its reason and check "
                                   "the budgets. Exits 2 on a bad stack file or a broken budget.")
    stack_options(p, path_ok=True)
    report_options(p, "the plan")
    target_option(p)
    p.add_argument("--pg-version", type=int, choices=PG_VERSIONS,
                   help="plan for another PostgreSQL major than the stack file names")
    p.add_argument("--section", metavar="NAME",
                   help="only this part: a section of settings (e.g. postgresql.conf, pgbouncer.ini, redis, "
                        "web env; a prefix picks every section it starts), hosts, budgets or warnings")
    p.set_defaults(func=run)


PARTS = ("hosts", "budgets", "warnings")


def chosen_sections(plan, name: str | None) -> list[str]:
    """The parts `--section NAME` shows: a part, a section, or every section NAME starts."""
    if name is None:
        return [*PARTS, *plan.sections()]
    names = list(plan.sections())
    found = [name] if name in PARTS or name in names else [n for n in names if n.startswith(name)]
    if not found:
        import difflib

        close = difflib.get_close_matches(name, [*PARTS, *names], n=1)
        raise UsageError(f"--section {name!r}: no such part of the plan" + (f"; did you mean {close[0]!r}?" if close
                                                                             else "")
                         + f" (parts: {', '.join(PARTS)}; sections: {', '.join(names)})")
    return found


def run(args) -> int:
    plan = plan_from_args(args, strict=False, target=args.target)
    parts = chosen_sections(plan, args.section)
    if args.format == "json":
        doc = plan.to_json()
        if args.section:
            doc = {"stack": doc["stack"], **{p: doc[p] for p in PARTS if p in parts},
                   "settings": {k: v for k, v in doc["settings"].items() if k in parts}}
        print_json(doc)
    else:
        print_plan(plan, parts)
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


def summary(plan) -> str:
    """One line before the detail: what the plan is and whether it holds."""
    from ..units import plural

    machines = sum(h.count for h in plan.hosts)
    settings = sum(len(s) for s in plan.sections().values())
    broken = len(plan.violations)
    return (f"{plural(len(plan.hosts), 'host')} ({plural(machines, 'machine')}), {plural(settings, 'setting')}; "
            f"{len(plan.budgets) - broken} of {plural(len(plan.budgets), 'budget')} hold"
            + (f", {broken} BROKEN" if broken else "") + f"; {plural(len(plan.warnings), 'warning')}")


def at_a_glance(plan) -> list[tuple[str, str]]:
    """The few numbers a reader looks for first, each one the plan's own setting (nothing is
    computed here): how PostgreSQL is sized, how many seats PgBouncer gives, what each app replica
    runs, and how the cache evicts."""
    from ..units import format_bytes_human, plural

    def size(s) -> str:
        return format_bytes_human(s.value) if s.unit == "bytes" and isinstance(s.value, int) else s.text

    pg, bouncer, app = plan.postgres, plan.pgbouncer, plan.app
    replicas = sum(1 for r in plan.replicas if r.track == "stable") or 1
    processes = plural(app["workers"].value, "worker") if app["workers"].value else "1 process"
    rows = [("postgres", f"max_connections {pg['max_connections'].text}, shared_buffers "
                         f"{size(pg['shared_buffers'])}, work_mem {size(pg['work_mem'])}"),
            ("pgbouncer", f"{bouncer['default_pool_size'].text} server connections "
                          f"(+{bouncer['reserve_pool_size'].text} reserve) for up to "
                          f"{bouncer['max_client_conn'].text} clients"),
            ("app", f"{plural(replicas, 'replica')} × {processes} × {app['threads'].text} threads, "
                    f"DB pool {app['web_db_pool'].text} each; jobs {app['job_processes'].text} × "
                    f"{app['job_concurrency'].text}")]
    if "cache" in plan.redis:
        cache = plan.redis["cache"]
        rows.append(("redis cache", f"maxmemory {size(cache['maxmemory'])}, {cache['maxmemory-policy'].text}"))
    return rows


def print_plan(plan, parts: list[str] | None = None) -> None:
    """Warnings first, then every section as a table that wraps to the terminal (80 columns when it
    cannot tell), then the budgets with their arithmetic. `parts`: only those (plan --section)."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    from ..console import out, print_settings, trimmed
    from ..units import format_bytes_human, plural

    parts = parts if parts is not None else chosen_sections(plan, None)
    with trimmed(out()) as console:
        console.print(Text(f"stack {plan.stack}  ({plan.spec.path})", style="bold"))
        console.print(Text(summary(plan)))
        if parts == chosen_sections(plan, None):   # the whole plan: the headline numbers first
            glance = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
            glance.add_column("area", no_wrap=True, style="bold")
            glance.add_column("numbers", overflow="fold", ratio=1)   # wrapped lines hang under the numbers
            for area, text in at_a_glance(plan):
                glance.add_row("  " + area, text)
            console.print(glance)
        if plan.warnings and "warnings" in parts:
            console.print("\nwarnings", style="bold underline")
            for w in plan.warnings:   # wrapped lines keep the indent
                console.print(Padding(Text(f"- {w}", style="yellow"), (0, 0, 0, 2), expand=False))
        if "hosts" in parts:
            console.print("\nhosts", style="bold underline")
            for h in plan.hosts:
                console.print(Text(f"  {h.name} ×{h.count}: {','.join(h.roles)}, {plural(h.cpus, 'cpu')}, "
                                   f"{format_bytes_human(h.memory_bytes)}  [{h.shape_source}]"))
        for section, settings in plan.sections().items():
            if section not in parts:
                continue
            console.print("\n" + section, style="bold underline")
            print_settings(console, [(name, shown_value(s), s.reason + (" [override]" if s.source == "override" else ""))
                                     for name, s in settings.items()])
        if "budgets" in parts:
            console.print("\nbudgets", style="bold underline")
            for b in plan.budgets:
                mark = Text("ok", style="green") if b.ok else Text("BROKEN", style="bold red")
                console.print(Text.assemble("  [", mark, f"] {b.name}"))
                console.print(Padding(Text(b.arithmetic, style="dim"), (0, 0, 0, 6), expand=False))
