"""Bounded, marked traffic at a stack's entry point while a step bakes (`rollout --load RATE`):
like Flagger's load tester, for stacks nobody is using."""
from __future__ import annotations

from ..choices import MAX_LOAD_RATE  # noqa: F401  (requests/s: enough for any gate, not a load test)
from .haproxy_log import SYNTHETIC_HEADER


def synthetic_load(plan, rate: float, bake_s: float, say):
    """A factory of the load for one bake, marked with X-Tunestack-Synthetic so that HAProxy's log,
    and the gates, count it apart. ValueError for a rate outside (0, MAX_LOAD_RATE]."""
    from ..loadgen import Load

    if not 0 < rate <= MAX_LOAD_RATE:
        raise ValueError(f"requests per second between 0 and {MAX_LOAD_RATE}")
    url = plan.entry_url()
    say(f"synthetic load: {rate:g} requests/s to {url} while each step bakes (marked {SYNTHETIC_HEADER}: 1)")
    threads = min(16, max(2, int(rate // 20) + 1))
    return lambda: Load(url, threads=threads, limit_s=bake_s + 30, rate=rate, headers={SYNTHETIC_HEADER: "1"})
