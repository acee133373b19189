"""Where the tuned Python stack's requests/s go (issue #26 point 11): the same wrk load on one
throwaway stack, one part taken away at a time, so that a part that grows costly shows as a
ratio that moves. Rows, each against stock (1 worker, 1 thread, straight to PostgreSQL):
- tuned: HAProxy → Gunicorn as planned (gunicorn.conf.py: gthread, prometheus_client's
  multiprocess mode) → PgBouncer (SCRAM) → PostgreSQL;
- no HAProxy: the same Gunicorn on its own port;
- metrics in-process: the planned workers × threads without gunicorn.conf.py's multiprocess
  folder (each worker keeps its metrics in memory; a scrape then sees one worker's);
- and no PgBouncer: that Gunicorn straight to PostgreSQL.
Each row starts from the same point (bench.web.fresh_start: the table each request counts emptied,
no jobs left over). Measures only; asserts nothing."""
from __future__ import annotations

import os

from tunestack.throwaway import ThrowawayStack

from bench.web import fresh_start, gunicorn, stock_app, wrk

BASE = 9432


def planned_gunicorn(stack, workers: int, threads: int, database_port: int):
    """The planned workers × threads as a bare Gunicorn (no gunicorn.conf.py), the plan's web env."""
    env = {**os.environ, **{k: s.text for k, s in stack.plan().web_env.items()},
           "DATABASE_URL": f"postgres://app@127.0.0.1:{database_port}/app", "DATABASE_PASSWORD": stack.password("app"),
           "REDIS_PASSWORD": stack.password("redis-queue"), "REDIS_CACHE_PASSWORD": stack.password("redis-cache")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return gunicorn(["-w", str(workers), "--threads", str(threads), "-k", "gthread"], env)


def measure(seconds: int = 10, connections: int = 32, say=print) -> dict:
    with ThrowawayStack("benchparts", BASE, say=say) as stack:
        plan = stack.plan()
        workers, threads = int(plan.web_env["WEB_CONCURRENCY"].value), int(plan.web_env["GUNICORN_THREADS"].value)
        rows = {}

        def run(name: str, url: str) -> None:
            say(f"  {name}: wrk {connections} connections × {seconds}s …")
            fresh_start(stack)
            rows[name] = wrk(url, seconds, connections)
        run("tuned (HAProxy, planned Gunicorn, PgBouncer)", f"http://127.0.0.1:{stack.base + 5}/")
        run("no HAProxy", f"http://127.0.0.1:{stack.base + 4}/")
        with planned_gunicorn(stack, workers, threads, stack.base + 1) as url:
            run("no HAProxy, metrics in-process", url)
        with planned_gunicorn(stack, workers, threads, stack.base) as url:
            run("no HAProxy, metrics in-process, no PgBouncer", url)
        with stock_app(stack) as url:
            run("stock (1 worker, 1 thread, direct)", url)
    stock = rows["stock (1 worker, 1 thread, direct)"]["requests_per_s"]
    return {"connections": connections, "seconds": seconds, "workers": workers, "threads": threads,
            "rows": {name: {**r, "ratio_to_stock": round(r["requests_per_s"] / stock, 2) if stock else None}
                     for name, r in rows.items()}}


def table(p: dict) -> str:
    out = [f"\nwhere the tuned Python stack's time goes, wrk {p['connections']} connections, {p['seconds']}s "
           f"({p['workers']} workers × {p['threads']} threads)",
           f"  {'':48}{'requests/s':>11}{'p95':>9}{'× stock':>9}"]
    for name, r in p["rows"].items():
        out.append(f"  {name:48}{r['requests_per_s']:>11.1f}{r['p95_ms']:>7.1f}ms{r['ratio_to_stock']:>8}×")
    return "\n".join(out)
