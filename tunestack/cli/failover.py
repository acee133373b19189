"""`tunestack failover`: a planned switchover of a local stack's primary to a standby, behind
PgBouncer's PAUSE, so that clients wait instead of failing (tunestack/switchover.py)."""
from __future__ import annotations

import sys

from ..console import print_json, say
from ..errors import UsageError
from .parser import lock_option, report_options, stack_options, state_dir_option
from .stacks import local_stack, locked


def register(sub) -> None:
    p = sub.add_parser("failover", help="move a local stack's primary to a standby (Patroni switchover)",
                       description="A planned switchover on a stack with postgres.replicas: PgBouncer pauses its "
                                   "clients (running transactions finish, new ones wait), Patroni promotes the "
                                   "standby (with rpo 0 the synchronous one, which has every commit), the load "
                                   "balancer's primary service moves to it, and PgBouncer resumes there. No client "
                                   "of PgBouncer sees an error; a client connected to PostgreSQL directly sees its "
                                   "connection closed. The old primary comes back as a standby (pg_rewind).")
    stack_options(p)
    p.add_argument("--to", metavar="NODE", help="the standby to promote (default: the synchronous one, else any "
                                                "healthy standby); `tunestack status` lists the nodes")
    lock_option(p)
    report_options(p, "who led before and after, and how long clients waited")
    state_dir_option(p)
    p.set_defaults(func=run_failover)


def _candidate(members: list[dict], wanted: str | None, nodes: list[str]) -> str:
    standbys = [m["name"] for m in members if m["role"] in ("sync_standby", "replica")
                and m["state"] in ("running", "streaming")]
    if wanted:
        if wanted not in nodes:
            raise UsageError(f"--to {wanted}: not a node of this stack; its nodes: {', '.join(nodes)}")
        if wanted not in standbys:
            raise UsageError(f"--to {wanted}: not a healthy standby now (tunestack status shows each node's role)")
        return wanted
    sync = [m["name"] for m in members if m["role"] == "sync_standby"]
    if not (sync or standbys):
        raise UsageError("no healthy standby to promote now (tunestack status shows each node); nothing was changed")
    return (sync or standbys)[0]


def run_failover(args) -> int:
    from ..local import LocalStackError
    from ..switchover import SwitchoverError, switchover

    stack = local_stack(args)
    plan = stack.plan()
    if not plan.ha:
        raise UsageError(f"stack {args.stack} runs one PostgreSQL (postgres.replicas is 0): there is no standby to "
                         "move the primary to; set postgres.replicas in its stack file and run up")
    stack.require_running(": a switchover moves the running primary")
    cluster = stack.servers.cluster
    with locked(stack.dir, f"failover --stack {args.stack}", args):
        leader = cluster.leader(plan)
        if leader is None:
            print("failover failed: Patroni has no leader now (tunestack status)", file=sys.stderr)
            return 1
        target = _candidate(cluster.members(plan), args.to, [n.name for n in plan.ha["nodes"].value])
        say(f"[{args.stack}] switching the primary from {leader.name} to {target}; PgBouncer holds the clients …")
        try:
            with stack.servers.pgbouncer_admin(plan) as admin:
                held = switchover(cluster.api_of(plan, leader.name), leader.name, target, admin,
                                  lambda name: stack.servers.serves_primary(plan, name))
            cluster.wait_ready(plan)
        except (SwitchoverError, LocalStackError) as exc:
            print(f"failover failed: {stack.redact(str(exc))}", file=sys.stderr)
            return 1
    result = {"stack": args.stack, "from": leader.name, "to": target, "clients_held_s": round(held, 2),
              "standby_now": leader.name if cluster.ready(plan) else None}
    if args.format == "json":
        print_json(result)
    else:
        print(f"primary {leader.name} → {target}: clients waited {held:.1f}s in PgBouncer, none failed; "
              f"{leader.name} rejoins as a standby")
    return 0
