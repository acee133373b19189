"""`tunestack bench`: benchmarks, side by side in one run (not tests)."""
from __future__ import annotations

from ..extensions import extension
from .parser import report_options

BENCHMARKS = ("storm", "web", "plan", "restart", "rails", "rollout", "advise", "backup", "overload", "webparts", "failover")


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks, side by side in one run (not tests)",
                       description="storm: 1,000 pgbench clients through the tuned PgBouncer vs a stock PostgreSQL "
                                   "(TPS, failed connections); web: wrk on the reference app with the planned "
                                   "workers/threads/pools vs a stock single-worker app connecting directly "
                                   "(requests/s, p50/p95/p99); webparts: the tuned Python stack with HAProxy, multiprocess metrics and PgBouncer taken away one at a time; "
                                   "overload: twice the clients the tuned stack serves at once, goodput within "
                                   "the p95 gate against stock; plan: plan + render time of every stack; backup: pgBackRest backup and restore "
                                   "MB/s against pg_basebackup and a plain copy, and a disaster's RPO. Storm and "
                                   "web bring up their own throwaway copies of the local stack (about a minute each).")
    p.add_argument("--only", choices=BENCHMARKS,
                   help="one benchmark; rollout builds the multihost test bed (root, several minutes)")
    p.add_argument("--smoke", action="store_true",
                   help="a short, small run of each benchmark: that it still works, not what it measures")
    report_options(p, "the results")
    p.set_defaults(func=run)


def run(args) -> int:
    return extension("bench")(args.only, "json" if args.format == "json" else "table", smoke=args.smoke)
