"""Web throughput: wrk against the reference app with the planned workers, threads and pools
(behind HAProxy, through PgBouncer), and against a stock single-worker, single-thread Gunicorn
that connects straight to PostgreSQL. Same machine, same database, one run."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from tunestack.paths import ROOT
from tunestack.poll import wait_until
from tunestack.throwaway import ThrowawayStack, raise_nofile

LUA = Path(__file__).with_name("percentiles.lua")


def wrk(url: str, seconds: int, connections: int, cpus: set[int] | None = None) -> dict:
    """`cpus`: the CPU set wrk runs on (bench.cpus), else any."""
    from bench.cpus import on_cpus

    binary = shutil.which("wrk")
    if not binary:
        raise RuntimeError("wrk not found: apt-get install wrk (scripts/setup installs it)")
    res = subprocess.run([binary, "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), url],
                         capture_output=True, text=True, preexec_fn=on_cpus(cpus, raise_nofile), timeout=seconds + 60)
    m = re.search(r"TUNESTACK requests=(\d+) errors=(\d+) non2xx=(\d+) duration_us=(\d+) p50_us=(\d+) "
                  r"p95_us=(\d+) p99_us=(\d+)", res.stdout)
    if not m:
        raise RuntimeError(f"wrk said: {res.stdout}{res.stderr}")
    req, err, non2xx, dur, p50, p95, p99 = map(int, m.groups())
    return {"requests_per_s": round(req / (dur / 1e6), 1), "requests": req, "socket_errors": err,
            "non_2xx": non2xx, "p50_ms": p50 / 1000, "p95_ms": p95 / 1000, "p99_ms": p99 / 1000}


def _wait_http(url: str, timeout: float = 30) -> None:
    def answers() -> bool:
        with urllib.request.urlopen(url, timeout=2):
            return True

    wait_until(answers, timeout, f"{url} answering")


def fresh_start(stack) -> None:
    """The same starting point for every setup measured on one stack: the request's table empty
    (each request counts it) and no backlog of jobs left by the setup before."""
    import redis

    from tunestack.servers import psql_socket

    redis.Redis(host="127.0.0.1", port=stack.base + 3, password=stack.password("redis-queue")).delete("jobs")
    res = psql_socket(str(stack.dir / "run" / "postgres"), stack.base, "TRUNCATE hits", db="app")
    if res.returncode:
        raise RuntimeError(res.stderr)


@contextlib.contextmanager
def gunicorn(options: list[str], env: dict[str, str]):
    """The reference app under a bare Gunicorn (no gunicorn.conf.py) with `options` and `env`, on a
    free loopback port; yields its URL, stops it by its PID."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), *options, "-b", f"127.0.0.1:{port}",
                             "refapp.app:application"], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url + "health")
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


def stock_app(stack, extra_env: dict[str, str] | None = None):
    """The reference app as it would run untuned: one Gunicorn worker with one thread, a pool of
    one, straight to PostgreSQL (no PgBouncer, no HAProxy)."""
    env = {**os.environ,
           "DATABASE_URL": f"postgres://app@127.0.0.1:{stack.base}/app", "DATABASE_PASSWORD": stack.password("app"),
           "DB_POOL": "1", "REDIS_URL": f"redis://127.0.0.1:{stack.base + 3}/0",
           "REDIS_CACHE_URL": f"redis://127.0.0.1:{stack.base + 2}/0", "REDIS_PASSWORD": stack.password("redis-queue"),
           "REDIS_CACHE_PASSWORD": stack.password("redis-cache"), **(extra_env or {})}
    for key in ("WEB_CONCURRENCY", "GUNICORN_THREADS"):
        env.pop(key, None)
    return gunicorn(["-w", "1", "--threads", "1"], env)


def measure(seconds: int = 10, connections: int = 32, rounds: int = 3, say=print) -> dict:
    """`rounds` pairs of runs, the order alternating (tuned first, then stock first) so that
    neither always runs on a warmer or busier machine; the detail is the median round's."""
    pairs = []
    with ThrowawayStack("benchweb", 23432, say=say) as stack:
        tuned_url = f"http://127.0.0.1:{stack.base + 5}/"
        with stock_app(stack) as stock_url:
            for n in range(rounds):
                runs = {}
                for name, url in (("tuned", tuned_url), ("stock", stock_url))[::1 if n % 2 == 0 else -1]:
                    say(f"  round {n + 1}/{rounds}, {name}: wrk {connections} connections × {seconds}s → {url} …")
                    fresh_start(stack)
                    runs[name] = wrk(url, seconds, connections)
                pairs.append(runs)
    ratios = [round(p["tuned"]["requests_per_s"] / p["stock"]["requests_per_s"], 2) if p["stock"]["requests_per_s"]
              else 0.0 for p in pairs]
    median = sorted(range(rounds), key=lambda i: ratios[i])[rounds // 2]
    tuned, baseline = pairs[median]["tuned"], pairs[median]["stock"]
    return {"connections": connections, "seconds": seconds, "rounds": rounds, "tuned": tuned, "stock": baseline,
            "throughput_ratio": ratios[median], "ratios": ratios, "ratio_spread": [min(ratios), max(ratios)],
            "p99_ratio": round(tuned["p99_ms"] / baseline["p99_ms"], 2) if baseline["p99_ms"] else None}
