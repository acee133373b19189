"""`python -m tunestack bench`: every benchmark in one run, the two setups side by side with ratios.
Benchmarks measure; they assert nothing."""
from __future__ import annotations

import json
import sys


# name: (module, what it does, the keyword arguments of its short smoke run in the tests)
BENCHMARKS = {
    "plan": ("plan_render", "planning and rendering every stack", {"rounds": 2}),
    "storm": ("storm", "1,000 database clients", {"seconds": 2, "clients": 40}),
    "web": ("web", "HTTP load on the reference app", {"seconds": 2, "connections": 4, "rounds": 1}),
    "restart": ("restart", "PostgreSQL restarted under load", {"seconds_around": 1}),
    "rails": ("rails", "the Rails reference app, planned against stock, YJIT and jemalloc",
              {"seconds": 2, "connections": 4, "rounds": 1, "rss_requests": 200}),
    "rollout": ("rollout_docker", "controller overhead of a Docker rollout on the test bed", {"rounds": 1}),
    "advise": ("advise", "one sample's cost on a running stack", {"rounds": 2}),
    "webparts": ("webparts", "the tuned Python stack with one part taken away at a time",
                 {"seconds": 2, "connections": 4}),
    "overload": ("overload", "twice the clients the stack serves at once: goodput within the SLO",
                 {"seconds": 3, "rounds": 1}),
    "failover": ("failover", "PostgreSQL with a synchronous standby, the queue under Sentinel: RTO per fault, "
                             "what was lost, rpo 0's cost",
                 # the quickest PostgreSQL fault and the queue's (tests/test_local_ha.py runs every one)
                 {"trials": 1, "seconds_after": 1, "latency_seconds": 2, "faults": ("patroni killed", "queue master lost")}),
    "backup": ("backup", "pgBackRest backup and restore against pg_basebackup and a copy; a disaster's RPO",
               {"rows": 50_000, "rpo_write_s": 12, "archive_timeout": "10s"}),
}


def measure(name: str, smoke: bool, say) -> dict:
    """One benchmark; `smoke`: short and small, so that a broken benchmark fails the tests."""
    import importlib
    import inspect

    module_name, what, smoke_args = BENCHMARKS[name]
    module = importlib.import_module(f"bench.{module_name}")
    say(f"{name}: {what}{' (smoke run)' if smoke else ''} …")
    kwargs = dict(smoke_args) if smoke else {}
    if "say" in inspect.signature(module.measure).parameters:
        kwargs["say"] = say
    return module.measure(**kwargs)


def _print_failover(f: dict) -> None:
    print(f"\nfailover (local-ha: a synchronous standby, a queue replica; the plan's rto {f['plan_rto_s']:g}s)"
          "   median RTO   worst RTO   lost of acknowledged")
    for fault, r in f["faults"].items():
        print(f"  {fault:<38} {r['median_rto_s']:>8}s  {r['worst_rto_s']:>8}s   {r['lost']:>6} of {r['acknowledged']:<6} "
              f"({len(r['trials'])} trials)")
    c = f["commit_latency"]
    print(f"  commit latency                 rpo 0 (sync)   rpo 1MiB (async)   ratio")
    print(f"    p50                           {c['rpo_0']['p50_ms']:>9}ms   {c['rpo_1MiB']['p50_ms']:>13}ms   "
          f"{c['p50_ratio']}×")
    print(f"    p95                           {c['rpo_0']['p95_ms']:>9}ms   {c['rpo_1MiB']['p95_ms']:>13}ms")


def run(only: str | None, fmt: str, smoke: bool = False) -> int:
    say = (lambda m: print(m, file=sys.stderr, flush=True))
    results = {name: measure(name, smoke, say) for name in BENCHMARKS if only in (None, name)}
    if fmt == "json":
        print(json.dumps(results, indent=2))
        return 0
    if "advise" in results:
        a = results["advise"]
        print(f"\nadvise, one sample (median of {a['rounds']})   seconds   ratio")
        print(f"  every query and command advise runs     {a['sample_seconds']:>8}   {a['ratio']}× a SELECT 1")
        print(f"  one SELECT 1 the same way (psql)        {a['select_1_seconds']:>8}")
        print(f"  server time of its PostgreSQL queries   {a['server_exec_ms_per_sample']:>7}ms per sample")
    if "failover" in results:
        _print_failover(results["failover"])
    if "plan" in results:
        p = results["plan"]
        print(f"\nplan + render, {len(p['stacks'])} stacks ({', '.join(p['stacks'])})")
        print(f"{'':28}{'cold (first run)':>18}{'warm (median of ' + str(p['rounds']) + ')':>22}")
        print(f"{'  plan':28}{p['cold_plan_seconds']:>17.4f}s{p['warm_plan_seconds']:>21.4f}s")
        print(f"{'  render':28}{p['cold_render_seconds']:>17.4f}s{p['warm_render_seconds']:>21.4f}s")
        print(f"{'  total (cold incl. imports)':28}{p['cold_seconds_incl_imports']:>17.4f}s"
              f"{p['warm_total_seconds']:>21.4f}s   cold/warm {p['cold_to_warm_ratio']}×")
    if "storm" in results:
        s = results["storm"]
        t, b = s["tuned_pgbouncer"], s["stock_postgres"]
        ratio = f"{s['tps_ratio']}×" if s["tps_ratio"] else "stock did not run (pgbench aborted)"
        print(f"\nconnection storm, {s['clients']} clients, {s['seconds']}s   tuned (PgBouncer)   stock PostgreSQL   ratio")
        print(f"  TPS (pgbench -S)                 {t['tps']:>12.0f}   {b['tps']:>16.0f}   {ratio}")
        print(f"  failed connections               {t['failed_connections']:>12}   {b['failed_connections']:>16}"
              f"   {', '.join(b['failure_kinds'])}")
    if "web" in results:
        w = results["web"]
        t, b = w["tuned"], w["stock"]
        print(f"\nweb, wrk {w['connections']} connections, {w['seconds']}s, the median of {w['rounds']} rounds   "
              f"tuned (planned)   stock (1×1, direct)   ratio")
        print(f"  requests/s                       {t['requests_per_s']:>12.1f}   {b['requests_per_s']:>16.1f}   {w['throughput_ratio']}×")
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            r = round(t[key] / b[key], 2) if b[key] else "-"
            print(f"  {key.replace('_ms', ''):<32} {t[key]:>10.1f}ms   {b[key]:>14.1f}ms   {r}×")
        print(f"  errors (socket / non-2xx)        {t['socket_errors']:>5} / {t['non_2xx']:<5}   "
              f"{b['socket_errors']:>9} / {b['non_2xx']:<5}")
        print(f"  requests/s ratio, every round    {' '.join(f'{r}×' for r in w['ratios'])} "
              f"(spread {w['ratio_spread'][0]}–{w['ratio_spread'][1]}×)")
    if "restart" in results:
        r = results["restart"]
        t, p = r["tuned_up"], r["plain_restart"]
        print("\nPostgreSQL restart under load      tunestack up (paused)   plain restart")
        print(f"  requests during the run          {t['requests']:>12}   {p['requests']:>16}")
        print(f"  failed requests                  {t['failed']:>12}   {p['failed']:>16}")
        print(f"  restart took                     {t['restart_seconds']:>11}s   {p['restart_seconds']:>15}s")
    if "webparts" in results:
        from bench import webparts
        print(webparts.table(results["webparts"]))
    if "overload" in results:
        from bench import overload
        print(overload.table(results["overload"]))
    if "backup" in results:
        from bench import backup
        print(backup.table(results["backup"]))
    if "rails" in results:
        from bench import rails
        print(rails.table(results["rails"]))
    if "rollout" in results:
        r = results["rollout"]
        print(f"\nDocker rollout on the test bed (median of {r['rounds']}+, bake excluded)   seconds")
        print(f"  a step as HAProxy weights at run time (over SSH)    {r['step_runtime_weights_seconds']:>8}")
        print(f"  a step as a program apply (replayed; pulumi up: more){r['step_program_apply_seconds']:>8}"
              f"   {r['step_ratio']}× the run-time step")
        print(f"  starting the canary (one apply)                      {r['start_canary_seconds']:>8}")
        print(f"  failed gate → canary at weight 0                     {r['failed_gate_to_weight_0_seconds']:>8}")
        print(f"  then the program puts the replicas back              {r['rollback_apply_seconds']:>8}")
    return 0
