"""The seeds' Rails claims, measured on the Rails reference app (refapp/rails), one run, side by side:

- the planned stack (Puma as planned behind HAProxy, PgBouncer, jemalloc) against stock Rails 6.1
  defaults (one Puma process, RAILS_MAX_THREADS 5, straight to PostgreSQL);
- between them, one part taken away at a time (issue #26, point 12): the planned Puma on its own
  port (no HAProxy hop), then straight to PostgreSQL (no PgBouncer hop), then with stock's 5
  threads; what is left between the last row and stock is the plan's process settings (jemalloc,
  the GC heap settings);
- YJIT on against off, and jemalloc against glibc's malloc, each pair the planned Puma with one
  setting changed, hit directly; RSS per process after the same number of requests.

Fair and repeatable: each setup on the CPUs its own configuration gives it (the plan's CPU sets
for the planned Pumas and the stack's Sidekiq; any CPU for stock and for the "no CPU sets" row,
Sidekiq too), wrk on CPUs of its own where the machine has more than the stack's host (bench.cpus),
every measurement from the same data (an empty hits table, no queued jobs), the variants
interleaved round by round, and the spread of every row and of the planned/stock ratio reported
beside the median. The stack's Sidekiq keeps working through every run, as it would in production.

The guides claim 3–5× throughput, 12–40 % from YJIT and 30–40 % less memory from jemalloc. This
reports what this machine shows, whatever it is."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench.cpus import load_cpus, on_cpus, pin_tree
from bench.web import _wait_http, wrk
from tunestack.local import RAILS_APP
from tunestack.throwaway import ThrowawayStack

BASE = 30432            # its own ports
RSS_REQUESTS = 3000     # the same work for every RSS reading


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Puma:
    """One Puma process of the reference app on a spare loopback port, stopped by its PID."""

    def __init__(self, env: dict[str, str], args: list[str], cpus: set[int] | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = subprocess.Popen([shutil.which("puma"), *args, "-b", f"tcp://127.0.0.1:{self.port}",
                                      str(RAILS_APP / "config.ru")], cwd=str(RAILS_APP.parent.parent),
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=on_cpus(cpus))

    def __enter__(self) -> "Puma":
        _wait_http(self.url + "health", 60)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def requests(self, n: int, threads: int = 4) -> None:
        def one(_):
            with urllib.request.urlopen(self.url, timeout=10) as r:
                r.read()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(n)))


def _same_start(stack: ThrowawayStack) -> None:
    """Every measurement starts from the same data: each request counts the hits table and queues
    a job that adds a row, so without this a later run would count more rows and find a backlog."""
    import redis

    stack.psql_socket("TRUNCATE hits")
    queue = redis.Redis(host="127.0.0.1", port=stack.base + 3, password=stack.password("redis-queue"))
    queue.delete("queue:default")
    queue.close()


def _planned_env(stack: ThrowawayStack) -> dict[str, str]:
    """The web env the plan gives Puma (the stack's applied plan), with this scratch stack's secrets."""
    import json

    applied = json.loads((stack.dir / "applied-plan.json").read_text())
    env = {k: s["text"] for k, s in applied["settings"]["web env"].items()}
    return {**{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}, **env,
            "DATABASE_PASSWORD": stack.password("app"), "REDIS_PASSWORD": stack.password("redis-queue"),
            "REDIS_CACHE_PASSWORD": stack.password("redis-cache"), "PUMA_CONTROL_URL": ""}


def _median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (its latencies with it), and the spread of all rounds:
    one noisy round on a shared 2-core machine does not decide a comparison."""
    rates = sorted(m["requests_per_s"] for m in runs)
    return {**sorted(runs, key=lambda m: m["requests_per_s"])[len(runs) // 2], "min_per_s": rates[0],
            "max_per_s": rates[-1]}


# Rows between the planned stack and stock, each one part fewer (the planned stack's own Puma serves
# the first; the others run beside it on a port of their own).
PARTS = {
    "planned_direct": "planned Puma, no HAProxy",
    "planned_no_pgbouncer": "… and straight to PostgreSQL",
    "planned_5_threads": "… and stock's 5 threads",
    "planned_no_cpu_sets": "planned Puma, no CPU sets",
}


@dataclass(frozen=True)
class Variant:
    env: dict[str, str] | None     # None: the stack's own servers (the entry point or the app port)
    args: list[str] = field(default_factory=list)
    cpus: set[int] | None = None   # the Puma's CPU set; None: any CPU
    jobs_pinned: bool = True       # the stack's Sidekiq on the plan's jobs CPUs, else on any


def _cpu_list(text: str) -> set[int]:
    first, _, last = text.partition("-")
    return set(range(int(first), int(last or first) + 1))


def _variants(stack: ThrowawayStack, plan, planned: dict[str, str]) -> dict[str, Variant]:
    """Planned Pumas run on the plan's web CPUs with the stack's Sidekiq on the jobs' CPUs, as the
    plan runs them; stock and "no CPU sets" run Puma and Sidekiq on any CPU, as an unplanned host does."""
    puma_rb = ["-C", str(stack.dir / "etc" / "puma.rb")]
    web = _cpu_list(plan.app["cpu_sets"].value[0]) if "cpu_sets" in plan.app else None
    direct = {"DATABASE_URL": f"postgres://app@127.0.0.1:{stack.base}/app"}
    stock_env = {k: v for k, v in planned.items() if k not in ("RUBY_YJIT_ENABLE", "RUBYOPT", "LD_PRELOAD",
                                                               "RUBY_GC_HEAP_GROWTH_FACTOR",
                                                               "RUBY_GC_HEAP_INIT_SLOTS", "WEB_CONCURRENCY")}
    stock_env.update({"RAILS_MAX_THREADS": "5", "PUMA_MAX_THREADS": "5", "PUMA_MIN_THREADS": "5", "DB_POOL": "5",
                      **direct,
                      # Rails' default with PostgreSQL itself: prepared statements on
                      "DB_PREPARED_STATEMENTS": "true"})
    return {
        "planned": Variant(None),
        "planned_direct": Variant(None),
        "planned_no_pgbouncer": Variant({**planned, **direct}, puma_rb, web),
        "planned_5_threads": Variant({**planned, **direct, "PUMA_MAX_THREADS": "5", "DB_POOL": "7"}, puma_rb, web),
        "planned_no_cpu_sets": Variant(planned, puma_rb, None, jobs_pinned=False),
        "stock": Variant(stock_env, ["-t", "5:5"], None, jobs_pinned=False),
        # YJIT forced on (the plan leaves it off on Ruby 3.1: this is the measurement behind that)
        "yjit_on": Variant({**planned, "RUBY_YJIT_ENABLE": "1", "RUBYOPT": "--yjit-exec-mem-size=64"}, puma_rb, web),
        # off is absent: Ruby 3.1 turns YJIT on when RUBY_YJIT_ENABLE is set at all, even to 0
        "yjit_off": Variant({k: v for k, v in planned.items() if k not in ("RUBY_YJIT_ENABLE", "RUBYOPT")}, puma_rb,
                            web),
        "jemalloc_on": Variant(planned, puma_rb, web),
        "jemalloc_off": Variant({k: v for k, v in planned.items() if k != "LD_PRELOAD"}, puma_rb, web),
    }


@contextlib.contextmanager
def _jobs_on(stack: ThrowawayStack, plan, pinned: bool):
    """The stack's Sidekiq on the plan's jobs CPUs (as `up` starts it) or, for a run, on any CPU."""
    if pinned or "cpu_sets" not in plan.app:
        yield
        return
    from tunestack.local.folders import StateFolders
    from tunestack.local.supervisor import Supervisor

    jobs = Supervisor(StateFolders.of(stack.name, stack.state)).pid("jobs")
    pin_tree(jobs, os.sched_getaffinity(0))
    try:
        yield
    finally:
        pin_tree(jobs, _cpu_list(plan.app["cpu_sets"].value[1]))


def measure(seconds: int = 6, connections: int = 16, rounds: int = 3, rss_requests: int = RSS_REQUESTS,
            say=print) -> dict:
    with ThrowawayStack("benchrails", BASE, say=say, source="local-rails") as stack:
        plan = stack.plan()   # once: every variant and round reads the same plan
        load = load_cpus(plan.spec.app_hosts()[0].cpus)
        variants = _variants(stack, plan, _planned_env(stack))
        own = {"planned": f"http://127.0.0.1:{stack.base + 5}/", "planned_direct": f"http://127.0.0.1:{stack.base + 4}/"}
        out: dict = {"connections": connections, "seconds": seconds, "rounds": rounds, "rss_requests": rss_requests,
                     "cpu_sets": plan.app["cpu_sets"].text if "cpu_sets" in plan.app else None,
                     "wrk_cpus": sorted(load or [])}
        runs: dict[str, list[dict]] = {k: [] for k in variants}
        rss: dict[str, float] = {}
        for round_ in range(rounds):   # interleaved, so drift on the machine hits every variant alike
            for name, v in variants.items():
                _same_start(stack)
                if v.env is None:
                    say(f"  round {round_ + 1}/{rounds} {name}: wrk → {own[name]} (the stack's own servers) …")
                    runs[name].append(wrk(own[name], seconds, connections, load))
                    continue
                with _jobs_on(stack, plan, v.jobs_pinned), Puma(v.env, v.args, cpus=v.cpus) as puma:
                    say(f"  round {round_ + 1}/{rounds} {name}: {rss_requests} requests, then wrk → {puma.url} …")
                    puma.requests(rss_requests)
                    rss.setdefault(name, round(_rss_kib(puma.proc.pid) / 1024, 1))
                    _same_start(stack)
                    runs[name].append(wrk(puma.url, seconds, connections, load))
    for name in variants:
        out[name] = {**_median_run(runs[name]), **({"rss_mib": rss[name]} if name in rss else {})}
    per_round = [_ratio(p["requests_per_s"], s["requests_per_s"]) for p, s in zip(runs["planned"], runs["stock"])]
    out["throughput_ratio"] = _ratio(out["planned"]["requests_per_s"], out["stock"]["requests_per_s"])
    out["throughput_ratio_rounds"] = per_round
    for name in PARTS:
        out[name]["ratio_to_stock"] = _ratio(out[name]["requests_per_s"], out["stock"]["requests_per_s"])
    out["yjit_ratio"] = _ratio(out["yjit_on"]["requests_per_s"], out["yjit_off"]["requests_per_s"])
    out["yjit_rss_ratio"] = _ratio(out["yjit_on"]["rss_mib"], out["yjit_off"]["rss_mib"])
    out["jemalloc_rss_ratio"] = _ratio(out["jemalloc_on"]["rss_mib"], out["jemalloc_off"]["rss_mib"])
    out["jemalloc_ratio"] = _ratio(out["jemalloc_on"]["requests_per_s"], out["jemalloc_off"]["requests_per_s"])
    return out


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def table(r: dict) -> str:
    cpus = (f"the plan's CPU sets {r['cpu_sets']}" if r["cpu_sets"] else "no CPU sets") + (
        f", wrk on CPU {','.join(map(str, r['wrk_cpus']))}" if r["wrk_cpus"] else ", wrk on any CPU")
    rows = [f"\nRails reference app, wrk {r['connections']} connections, {r['seconds']}s, median of {r['rounds']} "
            f"interleaved rounds ({cpus})",
            f"{'':36}{'req/s':>9}{'min–max':>15}{'p50 ms':>9}{'p95 ms':>9}{'RSS MiB':>9}"]

    def line(label, m, note=""):
        rss = f"{m['rss_mib']:>9.1f}" if "rss_mib" in m else f"{'':>9}"
        spread = f"{m['min_per_s']:.0f}–{m['max_per_s']:.0f}"
        rows.append(f"  {label:<34}{m['requests_per_s']:>9.1f}{spread:>15}{m['p50_ms']:>9.1f}{m['p95_ms']:>9.1f}"
                    f"{rss}{note}")
    line("planned stack (via HAProxy)", r["planned"])
    for name, label in PARTS.items():
        line(label, r[name], f"   {r[name]['ratio_to_stock']}× stock")
    line("stock Rails 6.1 (1 × 5, direct)", r["stock"])
    rounds = ", ".join(f"{x}×" for x in r["throughput_ratio_rounds"])
    rows.append(f"  → planned / stock throughput {r['throughput_ratio']}× (each round: {rounds})")
    line("YJIT on (planned Puma, direct)", r["yjit_on"])
    line("YJIT off", r["yjit_off"])
    rows.append(f"  → YJIT on / off throughput {r['yjit_ratio']}×, RSS {r['yjit_rss_ratio']}×")
    line("jemalloc (planned Puma, direct)", r["jemalloc_on"])
    line("glibc malloc", r["jemalloc_off"])
    rows.append(f"  → jemalloc / glibc RSS after {r['rss_requests']} requests {r['jemalloc_rss_ratio']}×, "
                f"throughput {r['jemalloc_ratio']}×")
    return "\n".join(rows)
