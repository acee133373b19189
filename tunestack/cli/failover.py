"""`tunestack failover`: a planned switchover of a stack's primary to a standby, behind PgBouncer's
PAUSE, so that clients wait instead of failing (tunestack/switchover.py): a local stack's, or with
--target docker a deployed stack's containers (tunestack/dockerha.py), checked first against the
plan and the running cluster (exit 2 and nothing touched when there is no standby, nothing
deployed answers, or --to names no healthy standby)."""
from __future__ import annotations

import sys

from ..console import print_json, say
from ..errors import UsageError
from .parser import lock_option, report_options, stack_options, state_dir_option, target_option
from .stacks import local_stack, locked


def register(sub) -> None:
    p = sub.add_parser("failover", help="move a stack's primary to a standby (Patroni switchover)",
                       description="A planned switchover on a stack with postgres.replicas: PgBouncer pauses its "
                                   "clients (running transactions finish, new ones wait), Patroni promotes the "
                                   "standby (with rpo 0 the synchronous one, which has every commit), the load "
                                   "balancer's primary service moves to it, and PgBouncer resumes there. No client "
                                   "of PgBouncer sees an error; a client connected to PostgreSQL directly sees its "
                                   "connection closed. The old primary comes back as a standby (pg_rewind). "
                                   "With --target docker: a deployed stack's containers, through each machine's "
                                   "Docker engine (DOCKER_HOST for a local one, else ssh:// as `pulumi up` uses).")
    stack_options(p)
    target_option(p)
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

    if args.target == "docker":
        return run_docker_failover(args)
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
    return report_failover(args, leader.name, target, held, cluster.ready(plan))


def report_failover(args, leader: str, target: str, held: float, rejoined: bool) -> int:
    result = {"stack": args.stack, "from": leader, "to": target, "clients_held_s": round(held, 2),
              "standby_now": leader if rejoined else None}
    if args.format == "json":
        print_json(result)
    else:
        print(f"primary {leader} → {target}: clients waited {held:.1f}s in PgBouncer, none failed; "
              + (f"{leader} is a standby now" if rejoined else f"{leader} rejoins as a standby"))
    return 0


def run_docker_failover(args) -> int:
    from ..dockerha import ContainerCluster, engine_urls
    from ..patroniapi import role_of
    from ..plan import build_plan
    from ..poll import poll
    from ..switchover import SwitchoverError, switchover
    from .stacks import stack_spec

    spec = stack_spec(args.stack)
    plan = build_plan(spec, target="docker")
    if not plan.ha:
        raise UsageError(f"stack {args.stack} runs one PostgreSQL (postgres.replicas is 0): there is no standby to "
                         "move the primary to")
    cluster = ContainerCluster(plan, engine_urls(spec))
    members = cluster.members()
    if not members:
        raise UsageError(f"no Patroni of stack {args.stack} answers through its machines' Docker engines: is it "
                         "deployed (pulumi up), and does DOCKER_HOST or ssh reach its machines?")
    leader = role_of(members, "leader")
    if leader is None:
        print("failover failed: Patroni has no leader now (its /cluster lists every node's state)", file=sys.stderr)
        return 1
    target = _candidate(members, args.to, [n.name for n in cluster.nodes])
    say(f"[{args.stack}] switching the primary from {leader} to {target}; PgBouncer holds the clients …")
    node = next(n for n in cluster.nodes if n.name == leader)
    try:
        held = switchover(cluster.api(node, write=True), leader, target, cluster.bouncer(), cluster.proxy_sends_to)
    except (SwitchoverError, RuntimeError) as exc:
        print(f"failover failed: {exc}", file=sys.stderr)
        return 1
    def rejoined() -> bool:
        now = cluster.members()
        return role_of(now, "leader") == target and any(
            m["name"] == leader and m["state"] in ("running", "streaming") for m in now)
    return report_failover(args, leader, target, held, bool(poll(rejoined, 60, interval=1)))
