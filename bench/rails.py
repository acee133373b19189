"""The seeds' Rails claims, measured on the Rails reference app (refapp/rails), one run, side by side:

- the planned stack (Puma as planned behind HAProxy, PgBouncer, jemalloc) against stock Rails 6.1
  defaults (one Puma process, RAILS_MAX_THREADS 5, straight to PostgreSQL);
- between them, one part taken away at a time (issue #26, point 12): the planned Puma on its own
  port (no HAProxy hop), then straight to PostgreSQL (no PgBouncer hop), then with stock's 5
  threads; what is left between the last row and stock is the plan's process settings (jemalloc,
  the GC heap settings);
- YJIT on against off, and jemalloc against glibc's malloc, each pair the planned Puma with one
  setting changed, hit directly; RSS per process after the same number of requests.

Fair and repeatable: every server on the same CPU set and wrk on its own (bench.cpus), every
measurement from the same data (an empty hits table, no queued jobs), the variants interleaved
round by round, and the spread of every row and of the planned/stock ratio reported beside the
median. The stack's Sidekiq keeps working through every run, as it would in production.

The guides claim 3–5× throughput, 12–40 % from YJIT and 30–40 % less memory from jemalloc. This
reports what this machine shows, whatever it is."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from bench.cpus import cpu_sets, on_cpus, pin_tree
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
}


def _variants(stack: ThrowawayStack, planned: dict[str, str]) -> dict:
    """name → (env, Puma args): None for the stack's own servers (the entry point or the app port)."""
    puma_rb = str(stack.dir / "etc" / "puma.rb")
    direct = {"DATABASE_URL": f"postgres://app@127.0.0.1:{stack.base}/app"}
    stock_env = {k: v for k, v in planned.items() if k not in ("RUBY_YJIT_ENABLE", "RUBYOPT", "LD_PRELOAD",
                                                               "RUBY_GC_HEAP_GROWTH_FACTOR",
                                                               "RUBY_GC_HEAP_INIT_SLOTS", "WEB_CONCURRENCY")}
    stock_env.update({"RAILS_MAX_THREADS": "5", "PUMA_MAX_THREADS": "5", "PUMA_MIN_THREADS": "5", "DB_POOL": "5",
                      **direct,
                      # Rails' default with PostgreSQL itself: prepared statements on
                      "DB_PREPARED_STATEMENTS": "true"})
    return {
        "planned": None,
        "planned_direct": None,
        "planned_no_pgbouncer": ({**planned, **direct}, ["-C", puma_rb]),
        "planned_5_threads": ({**planned, **direct, "PUMA_MAX_THREADS": "5", "DB_POOL": "7"}, ["-C", puma_rb]),
        "stock": (stock_env, ["-t", "5:5"]),
        # YJIT forced on (the plan leaves it off on Ruby 3.1: this is the measurement behind that)
        "yjit_on": ({**planned, "RUBY_YJIT_ENABLE": "1", "RUBYOPT": "--yjit-exec-mem-size=64"}, ["-C", puma_rb]),
        # off is absent: Ruby 3.1 turns YJIT on when RUBY_YJIT_ENABLE is set at all, even to 0
        "yjit_off": ({k: v for k, v in planned.items() if k not in ("RUBY_YJIT_ENABLE", "RUBYOPT")}, ["-C", puma_rb]),
        "jemalloc_on": (planned, ["-C", puma_rb]),
        "jemalloc_off": ({k: v for k, v in planned.items() if k != "LD_PRELOAD"}, ["-C", puma_rb]),
    }


def measure(seconds: int = 6, connections: int = 16, rounds: int = 3, say=print) -> dict:
    servers, load = cpu_sets()
    with ThrowawayStack("benchrails", BASE, say=say, source="local-rails") as stack:
        from tunestack.local.ports import supervisord_pid

        pin_tree(supervisord_pid(stack.dir / "run"), servers)   # PostgreSQL, PgBouncer, Redis, HAProxy, Puma, Sidekiq
        variants = _variants(stack, _planned_env(stack))
        own = {"planned": f"http://127.0.0.1:{stack.base + 5}/", "planned_direct": f"http://127.0.0.1:{stack.base + 4}/"}
        out: dict = {"connections": connections, "seconds": seconds, "rounds": rounds, "rss_requests": RSS_REQUESTS,
                     "server_cpus": sorted(servers or []), "wrk_cpus": sorted(load or [])}
        runs: dict[str, list[dict]] = {k: [] for k in variants}
        rss: dict[str, float] = {}
        for round_ in range(rounds):   # interleaved, so drift on the machine hits every variant alike
            for name, given in variants.items():
                _same_start(stack)
                if given is None:
                    say(f"  round {round_ + 1}/{rounds} {name}: wrk → {own[name]} (the stack's own servers) …")
                    runs[name].append(wrk(own[name], seconds, connections, load))
                    continue
                with Puma(*given, cpus=servers) as puma:
                    say(f"  round {round_ + 1}/{rounds} {name}: {RSS_REQUESTS} requests, then wrk → {puma.url} …")
                    puma.requests(RSS_REQUESTS)
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
    cpus = (f"servers on CPU {','.join(map(str, r['server_cpus']))}, wrk on CPU {','.join(map(str, r['wrk_cpus']))}"
            if r["wrk_cpus"] else "one CPU shared")
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
