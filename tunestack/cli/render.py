"""`tunestack render`: write the config files a stack's hosts receive."""
from __future__ import annotations

import sys
from pathlib import Path

from ..console import print_json
from ..errors import UsageError
from .parser import report_options, stack_options
from .stacks import plan_from_args


def register(sub) -> None:
    p = sub.add_parser("render", help="write the config files a stack's hosts receive",
                       description="Render postgresql.conf, roles.sql, pgbouncer.ini, its systemd limits, one "
                                   "Redis conf per instance, web/jobs env files, puma.rb or gunicorn.conf.py "
                                   "and Prometheus alerts. --all refreshes the committed rendered/ folder; "
                                   "--check fails when rendered/ is stale.")
    stack_options(p, path_ok=True)
    p.add_argument("-o", "--out", metavar="DIR", help="output folder (with --all: default rendered/)")
    p.add_argument("--all", action="store_true", help="render every stack into rendered/<stack>/")
    p.add_argument("--check", action="store_true", help="exit 1 when rendered/ differs from a fresh render")
    report_options(p, "the files written")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..render import render_plan, write

    if args.all or args.check:
        return _every_stack(args)
    if not args.out:
        raise UsageError("render needs --out DIR (with --stack NAME or --stack-file PATH), or --all (refresh "
                         "rendered/), or --check")
    plan = plan_from_args(args)
    paths = [str(p) for p in write(render_plan(plan), Path(args.out))]
    if args.format == "json":
        print_json({"stack": plan.stack, "out": args.out, "files": paths})
    else:
        print("\n".join(paths))
    return 0


def _every_stack(args) -> int:
    from .. import stackfile
    from ..paths import RENDERED
    from ..plan import plan_stack
    from ..render import render_plan, stale_stacks, write

    names = stackfile.stack_names()
    # Plan everything first: a bad stack stops the run before any file is written.
    rendered = {n: render_plan(plan_stack(n)) for n in names}
    out_root = Path(args.out) if args.out else RENDERED
    if args.check:
        stale = stale_stacks(rendered, out_root)
        if args.format == "json":
            print_json({"stale": stale})
        if stale:
            print("out of date: " + ", ".join(stale) + ". Run: tunestack render --all", file=sys.stderr)
            return 1
        if args.format == "text":
            print(f"rendered/ matches a fresh render of {len(names)} stacks")
        return 0
    written = {}
    for name, files in rendered.items():
        written[name] = [str(p) for p in write(files, out_root / name)]
        if args.format == "text":
            print(f"{name}: {len(files)} files in {out_root / name}")
    if args.format == "json":
        print_json({"stacks": written})
    return 0
