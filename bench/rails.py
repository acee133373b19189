"""The seeds' Rails claims, measured on the Rails reference app (refapp/rails), one run, side by side:

- the planned stack (Puma as planned behind HAProxy, PgBouncer, YJIT, jemalloc) against stock
  Rails 6.1 defaults (one Puma process, RAILS_MAX_THREADS 5, straight to PostgreSQL);
- YJIT on against off, and jemalloc against glibc's malloc, each pair the planned Puma with one
  setting changed, hit directly; RSS per process after the same number of requests.

Each measurement starts from the same data (an empty hits table, no queued jobs); the stack's
Sidekiq keeps working through every run, as it would in production.

The guides claim 3–5× throughput, 12–40 % from YJIT and 30–40 % less memory from jemalloc. This
reports what this machine shows, whatever it is."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor

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

    def __init__(self, env: dict[str, str], args: list[str]):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = subprocess.Popen([shutil.which("puma"), *args, "-b", f"tcp://127.0.0.1:{self.port}",
                                      str(RAILS_APP / "config.ru")], cwd=str(RAILS_APP.parent.parent),
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

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
    """The run with the median throughput (its latencies with it): one noisy round on a shared
    2-core machine does not decide a comparison."""
    return sorted(runs, key=lambda m: m["requests_per_s"])[len(runs) // 2]


def measure(seconds: int = 6, connections: int = 16, rounds: int = 3, say=print) -> dict:
    with ThrowawayStack("benchrails", BASE, say=say, source="local-rails") as stack:
        planned = _planned_env(stack)
        puma_rb = str(stack.dir / "etc" / "puma.rb")
        out: dict = {"connections": connections, "seconds": seconds, "rounds": rounds, "rss_requests": RSS_REQUESTS}
        entry = f"http://127.0.0.1:{stack.base + 5}/"
        stock_env = {k: v for k, v in planned.items() if k not in ("RUBY_YJIT_ENABLE", "RUBYOPT", "LD_PRELOAD",
                                                                   "RUBY_GC_HEAP_GROWTH_FACTOR",
                                                                   "RUBY_GC_HEAP_INIT_SLOTS", "WEB_CONCURRENCY")}
        stock_env.update({"RAILS_MAX_THREADS": "5", "PUMA_MAX_THREADS": "5", "PUMA_MIN_THREADS": "5", "DB_POOL": "5",
                          "DATABASE_URL": f"postgres://app@127.0.0.1:{stack.base}/app",
                          # Rails' default with PostgreSQL itself: prepared statements on
                          "DB_PREPARED_STATEMENTS": "true"})
        variants = {
            "planned": (None, None),
            "stock": (stock_env, ["-t", "5:5"]),
            # YJIT forced on (the plan leaves it off on Ruby 3.1: this is the measurement behind that)
            "yjit_on": ({**planned, "RUBY_YJIT_ENABLE": "1", "RUBYOPT": "--yjit-exec-mem-size=64"}, ["-C", puma_rb]),
            # off is absent: Ruby 3.1 turns YJIT on when RUBY_YJIT_ENABLE is set at all, even to 0
            "yjit_off": ({k: v for k, v in planned.items() if k not in ("RUBY_YJIT_ENABLE", "RUBYOPT")},
                         ["-C", puma_rb]),
            "jemalloc_on": (planned, ["-C", puma_rb]),
            "jemalloc_off": ({k: v for k, v in planned.items() if k != "LD_PRELOAD"}, ["-C", puma_rb]),
        }
        runs: dict[str, list[dict]] = {k: [] for k in variants}
        rss: dict[str, float] = {}
        for round_ in range(rounds):   # interleaved, so drift on the machine hits every variant alike
            for name, (env, args) in variants.items():
                _same_start(stack)
                if env is None:
                    say(f"  round {round_ + 1}/{rounds} planned stack: wrk → {entry} (HAProxy → Puma → PgBouncer) …")
                    runs[name].append(wrk(entry, seconds, connections))
                    continue
                with Puma(env, args) as puma:
                    say(f"  round {round_ + 1}/{rounds} {name}: {RSS_REQUESTS} requests, then wrk → {puma.url} …")
                    puma.requests(RSS_REQUESTS)
                    rss.setdefault(name, round(_rss_kib(puma.proc.pid) / 1024, 1))
                    _same_start(stack)
                    runs[name].append(wrk(puma.url, seconds, connections))
    for name in variants:
        out[name] = {**_median_run(runs[name]), **({"rss_mib": rss[name]} if name in rss else {})}
    out["throughput_ratio"] = _ratio(out["planned"]["requests_per_s"], out["stock"]["requests_per_s"])
    out["yjit_ratio"] = _ratio(out["yjit_on"]["requests_per_s"], out["yjit_off"]["requests_per_s"])
    out["yjit_rss_ratio"] = _ratio(out["yjit_on"]["rss_mib"], out["yjit_off"]["rss_mib"])
    out["jemalloc_rss_ratio"] = _ratio(out["jemalloc_on"]["rss_mib"], out["jemalloc_off"]["rss_mib"])
    out["jemalloc_ratio"] = _ratio(out["jemalloc_on"]["requests_per_s"], out["jemalloc_off"]["requests_per_s"])
    return out


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def table(r: dict) -> str:
    rows = [f"\nRails reference app, wrk {r['connections']} connections, {r['seconds']}s, median of {r['rounds']} "
            "interleaved rounds",
            f"{'':36}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'RSS MiB':>9}"]

    def line(label, m):
        rss = f"{m['rss_mib']:>9.1f}" if "rss_mib" in m else f"{'':>9}"
        rows.append(f"  {label:<34}{m['requests_per_s']:>9.1f}{m['p50_ms']:>9.1f}{m['p95_ms']:>9.1f}"
                    f"{m['p99_ms']:>9.1f}{rss}")
    line("planned stack (via HAProxy)", r["planned"])
    line("stock Rails 6.1 (1 × 5, direct)", r["stock"])
    rows.append(f"  → planned / stock throughput {r['throughput_ratio']}×")
    line("YJIT on (planned Puma, direct)", r["yjit_on"])
    line("YJIT off", r["yjit_off"])
    rows.append(f"  → YJIT on / off throughput {r['yjit_ratio']}×, RSS {r['yjit_rss_ratio']}×")
    line("jemalloc (planned Puma, direct)", r["jemalloc_on"])
    line("glibc malloc", r["jemalloc_off"])
    rows.append(f"  → jemalloc / glibc RSS after {r['rss_requests']} requests {r['jemalloc_rss_ratio']}×, "
                f"throughput {r['jemalloc_ratio']}×")
    return "\n".join(rows)
