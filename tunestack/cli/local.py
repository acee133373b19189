"""`tunestack up`, `down` and `status`: the local stack on this machine."""
from __future__ import annotations

import sys

from ..console import print_json, waiting
from ..errors import UsageError
from .parser import lock_option, report_options, stack_options, state_dir_option, target_option
from .stacks import local_stack, locked


def register(sub) -> None:
    p = sub.add_parser("up", help="bring a local stack up on this machine (idempotent)",
                       description="Plan the stack, build its reference app, check the new configs with the real "
                                   "servers, install missing Debian packages (as root), then start or update "
                                   "PostgreSQL, PgBouncer, both Redis instances, the reference app and HAProxy "
                                   "under supervisord. A second `up` reloads where the server can and restarts "
                                   "where it must; data is kept. State: /var/lib/tunestack/<stack>/ as root, "
                                   "else $XDG_STATE_HOME/tunestack/<stack>/.")
    stack_options(p)
    lock_option(p)
    report_options(p, "the stack's state at the end")
    state_dir_option(p)
    p.set_defaults(func=run_up)
    p = sub.add_parser("down", help="stop everything of a local stack; data is kept")
    stack_options(p)
    lock_option(p)
    p.add_argument("--purge", action="store_true",
                   help="also delete the stack's state folder: its data, its backups (the repository is in it), secrets "
                        "and logs (asks first)")
    p.add_argument("--yes", action="store_true", help="with --purge: do not ask (needed when not on a terminal)")
    report_options(p, "what was stopped")
    state_dir_option(p)
    p.set_defaults(func=run_down)
    p = sub.add_parser("status", help="what runs, where, and with which plan",
                       description="A local stack's programs, ports and plan; with --target docker a deployed "
                                   "stack's containers on every machine (through each machine's Docker engine), "
                                   "Patroni's members, the queue's roles and, with tunestack:monitoring, "
                                   "Prometheus' targets and the alerts firing.")
    stack_options(p)
    target_option(p)
    report_options(p, "the status")
    state_dir_option(p)
    p.set_defaults(func=run_status)


def _report(args, stack) -> None:
    if args.format == "json":
        print_json(stack.status_json())
    else:
        print(stack.status())


def run_up(args) -> int:
    from ..local import LocalStackError

    stack = local_stack(args)
    stack.plan()   # a bad stack file is exit 2 before the lock is even taken
    try:
        with locked(stack.dir, f"up --stack {args.stack}", args), waiting(f"bringing {args.stack} up …"):
            stack.up()
    except LocalStackError as exc:
        print(f"up failed: {stack.redact(str(exc))}", file=sys.stderr)
        return 1
    _report(args, stack)
    return 0


def run_down(args) -> int:
    stack = local_stack(args)
    if args.purge and not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"down --purge deletes {stack.dir} with its data and its backups: add --yes (not on a "
                             "terminal)")
        if input(f"delete {stack.dir}, the data and the backups of stack {args.stack}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing was deleted")
            return 0
    with locked(stack.dir, f"down --stack {args.stack}", args):
        stack.down()
        if args.purge:
            stack.purge()
    if args.format == "json":
        print_json(stack.status_json())
    return 0


def run_status(args) -> int:
    if args.target == "docker":
        return _docker_status(args)
    _report(args, local_stack(args))
    return 0


def _docker_status(args) -> int:
    from ..dockerha import ContainerCluster, engine_urls, queue_roles, stack_containers
    from ..monitoring.containers import monitoring_containers
    from ..monitoring.report import monitoring_lines, monitoring_report, stack_ca
    from ..plan import build_plan
    from .stacks import stack_spec

    spec = stack_spec(args.stack)
    plan = build_plan(spec, target="docker")
    url_of = engine_urls(spec)
    status = {"stack": args.stack, "containers": stack_containers(plan, url_of),
              "postgres": ContainerCluster(plan, url_of).members() if plan.ha else [],
              "queue": queue_roles(plan, url_of),
              "monitoring": monitoring_report(plan, stack_ca(plan, url_of)) if monitoring_containers(plan) else None}
    unreachable = 1 if any(c["name"] == "-" for c in status["containers"]) else 0   # a machine did not answer
    if args.format == "json":
        print_json(status)
        return unreachable
    print(f"stack {args.stack} (containers)")
    for c in status["containers"]:
        print(f"  {c['name']:<32} {c['state']:<10} {c['health']:<10} {c['machine']}")
    for m in status["postgres"]:
        print(f"postgres node: {m['name']} {m['role']} {m['state']} timeline {m.get('timeline', '-')}"
              + (f" lag {m['lag']}" if "lag" in m else ""))
    for q in status["queue"]:
        print(f"queue node: {q['name']} {q['role']} {q['address']}")
    for line in monitoring_lines(status["monitoring"]):
        print(line)
    return unreachable
