"""Overload goodput (issue #26 point 3): twice as many clients as the tuned stack can serve at
once (HAProxy's per-server maxconn, from each replica's workers × threads), each sending its next
request as soon as the last one is answered, for a bounded time, against the tuned stack and
against a stock single-worker, single-thread app on the same machine and database.

Each request also waits APP_EXTRA_LATENCY_MS (50 ms), as one that calls another service would: on
these 2 cores the reference app's own work is so light that the load generator, not the app, would
be the limit; with the wait, capacity is set by concurrency, as in most web apps.

Goodput is what users get: answers with 200 within the stack's p95 gate (the SLO), per second.
The tuned stack queues the excess at HAProxy (per-server maxconn, `timeout queue`) and sheds what
waits too long with a fast 503; stock lets the excess pile up in its accept backlog. Measures
only; asserts nothing."""
from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

from tunestack.throwaway import ThrowawayStack

from bench.web import fresh_start, stock_app

BASE = 10432


def closed_loop(url: str, clients: int, seconds: float, slo_s: float) -> dict:
    """`clients` threads, each with one request in flight, until `seconds` have passed."""
    answers: list[tuple[int, float]] = []
    lock, stop = threading.Lock(), time.monotonic() + seconds

    def client():
        while time.monotonic() < stop:
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(url, timeout=30) as r:
                    r.read()
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError:
                status = 0
            with lock:
                answers.append((status, time.monotonic() - t0))
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 35)
    took = time.monotonic() - t0
    ok = sorted(s for status, s in answers if status == 200)
    good = sum(1 for s in ok if s <= slo_s)
    shed = [s for status, s in answers if status == 503]
    return {"requests": len(answers), "goodput_per_s": round(good / took, 1), "ok_per_s": round(len(ok) / took, 1),
            "within_slo_share": round(good / len(answers), 3) if answers else 0.0,
            "p95_ok_ms": round(ok[int(0.95 * (len(ok) - 1))] * 1000, 1) if ok else None,
            "shed_503": len(shed), "shed_median_ms": round(sorted(shed)[len(shed) // 2] * 1000, 1) if shed else None,
            "failed_other": sum(1 for status, _ in answers if status not in (200, 503))}


def _with_latency(stack, ms: int) -> None:
    """The tuned stack's web with APP_EXTRA_LATENCY_MS, the way a rollout gives its stable version
    an environment (rollout-programs.json), then `up` (supervisord restarts web with it)."""
    from tunestack.local import LocalStack
    from tunestack.servers import environ

    with environ(TUNESTACK_STACKS_DIR=str(stack.stacks), TUNESTACK_STATE_DIR=str(stack.state)):
        LocalStack(stack.name, say=lambda m: None).write_rollout_programs(
            stable={"version": "stable", "env": {"APP_EXTRA_LATENCY_MS": str(ms)}})
    res = stack.cli("up")
    if res.returncode:
        raise RuntimeError(res.stdout + res.stderr)


def _median(runs: list[dict]) -> dict:
    """The round with the median goodput, with the spread of every round's goodput."""
    rates = sorted(r["goodput_per_s"] for r in runs)
    return {**sorted(runs, key=lambda r: r["goodput_per_s"])[len(runs) // 2], "goodput_min": rates[0],
            "goodput_max": rates[-1]}


def measure(seconds: float = 20, factor: float = 2, latency_ms: int = 50, rounds: int = 3, say=print) -> dict:
    """`rounds` pairs of runs, the order alternating (tuned first, then stock first), so that drift
    on the machine hits both alike; each row is the median round with the spread beside it."""
    with ThrowawayStack("benchover", BASE, say=say) as stack:
        _with_latency(stack, latency_ms)
        plan = stack.plan()
        capacity = plan.loadbalancer["server_maxconn"].value * sum(1 for r in plan.replicas if r.track == "stable")
        clients, slo_s = max(2, int(capacity * factor)), plan.rollout["gate_max_p95_ms"].value / 1000
        runs: dict[str, list[dict]] = {"tuned": [], "stock": []}
        with stock_app(stack, {"APP_EXTRA_LATENCY_MS": str(latency_ms)}) as stock_url:
            urls = {"tuned": f"http://127.0.0.1:{stack.base + 5}/", "stock": stock_url}
            for n in range(rounds):
                for name in (("tuned", "stock") if n % 2 == 0 else ("stock", "tuned")):
                    say(f"  round {n + 1}/{rounds}, {name}: {clients} clients ({factor:g}× the {capacity} the tuned "
                        f"stack serves at once) × {seconds:g}s …")
                    fresh_start(stack)
                    runs[name].append(closed_loop(urls[name], clients, seconds, slo_s))
    ratios = [round(t["goodput_per_s"] / s["goodput_per_s"], 2) if s["goodput_per_s"] else None
              for t, s in zip(runs["tuned"], runs["stock"])]
    tuned, stock = _median(runs["tuned"]), _median(runs["stock"])
    return {"clients": clients, "capacity": capacity, "seconds": seconds, "slo_ms": round(slo_s * 1000),
            "latency_ms": latency_ms, "rounds": rounds, "tuned": tuned, "stock": stock,
            "goodput_ratio": round(tuned["goodput_per_s"] / stock["goodput_per_s"], 2) if stock["goodput_per_s"]
            else None, "goodput_ratio_rounds": ratios}


def table(o: dict) -> str:
    t, s = o["tuned"], o["stock"]
    ratio = f"{o['goodput_ratio']}×" if o["goodput_ratio"] else "stock served nothing within the SLO"
    per_round = ", ".join(f"{x}×" if x else "–" for x in o["goodput_ratio_rounds"])
    rows = [f"\noverload, {o['clients']} clients (2× the {o['capacity']} served at once), {o['seconds']:g}s, "
            f"SLO {o['slo_ms']} ms, +{o['latency_ms']} ms a request, median of {o['rounds']} alternating rounds"
            f"   tuned    stock   ratio",
            f"  goodput (200 within the SLO)/s       {t['goodput_per_s']:>8}  {s['goodput_per_s']:>7}   {ratio}",
            f"  goodput, every round's min–max       {t['goodput_min']:>4}–{t['goodput_max']:<4}"
            f" {s['goodput_min']:>3}–{s['goodput_max']:<4}  each round: {per_round}",
            f"  all 200s/s                           {t['ok_per_s']:>8}  {s['ok_per_s']:>7}",
            f"  share of requests within the SLO     {t['within_slo_share']:>8}  {s['within_slo_share']:>7}",
            f"  p95 of the 200s                      {t['p95_ok_ms']:>6}ms  {s['p95_ok_ms']:>5}ms",
            f"  shed with 503                        {t['shed_503']:>8}  {s['shed_503']:>7}"
            + (f"   median wait {t['shed_median_ms']} / {s['shed_median_ms']} ms"
               if t["shed_503"] or s["shed_503"] else ""),
            f"  other failures                       {t['failed_other']:>8}  {s['failed_other']:>7}"]
    return "\n".join(rows)
