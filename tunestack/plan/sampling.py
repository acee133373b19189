"""Sentry sample rates from traffic and a monthly tracing budget (Sentry docs, "Sampling" and
"Quota management": a sample rate spends the monthly quota in proportion to traffic):
traces_sample_rate = min(1, B / (R × 2,592,000 × S))."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..stackfile.spec import TrafficSpec

SECONDS_PER_MONTH = 2_592_000  # 30 days


def floor_sig(x: float, digits: int = 3) -> float:
    """Round down to `digits` significant digits, so a rounded rate never overspends the budget."""
    if x <= 0:
        return 0.0
    scale = 10 ** (digits - 1 - math.floor(math.log10(x)))
    return math.floor(x * scale) / scale


@dataclass(frozen=True)
class Sampling:
    traces_rate: float
    traces_reason: str
    profiles_rate: float
    profiles_reason: str
    rules: tuple[dict, ...]       # [{"path": .., "rate": ..}], health checks at 0 first
    monthly_units: float          # expected spans/transactions a month at these rates (web and jobs)
    warnings: tuple[str, ...]
    monthly_transactions: float = 0.0   # sampled transactions a month: what profiles are a share of
    monthly_profiles: float = 0.0


def plan_sampling(t: TrafficSpec) -> Sampling:
    """Web requests and jobs are both transactions (sentry-sidekiq, Sentry's job integrations): both
    count against the budget at the base rate; per-path rules cover web paths. Profiles are a share
    of every sampled transaction (Sentry docs: profiles_sample_rate is relative to traces), the ones
    the per-path rules sample included."""
    per_tx = t.spans_per_transaction if t.tracing_unit == "spans" else 1.0
    jobs = t.peak_rps if t.peak_jobs_per_second is None else t.peak_jobs_per_second
    web_tx, job_tx = t.peak_rps * SECONDS_PER_MONTH, jobs * SECONDS_PER_MONTH   # at rate 1.0, from peak
    ruled_share = sum(r.share or 0 for r in t.sampling_rules)
    ruled_tx = sum((r.share or 0) * web_tx * r.rate for r in t.sampling_rules)
    rest_tx = max(0.0, 1.0 - ruled_share) * web_tx + job_tx
    left = t.tracing_per_month - ruled_tx * per_tx
    warnings = [f"sampling rule {r.path} has no share: its volume is not counted against the budget"
                for r in t.sampling_rules if r.share is None]
    rate = 0.0 if rest_tx <= 0 else floor_sig(min(1.0, max(0.0, left) / (rest_tx * per_tx)))
    unit = t.tracing_unit
    jobs_why = "" if t.peak_jobs_per_second is not None else ", one per request unless traffic.peak_jobs_per_second says"
    reason = (f"{t.tracing_per_month:,} {unit}/month budget / (({t.peak_rps:g} req/s + {jobs:g} jobs/s{jobs_why}) "
              f"peak × 2,592,000 s" + (f" × {per_tx:g} spans" if per_tx != 1 else "") + ")")
    if ruled_tx:
        reason += f", after {ruled_tx * per_tx:,.0f} {unit} for the per-path rules"
    if rate == 1.0:
        reason += ": the budget covers every request and job"
    sampled_tx = ruled_tx + rest_tx * rate
    if t.profiles_per_month and sampled_tx > 0:
        profiles = floor_sig(min(1.0, t.profiles_per_month / sampled_tx))
        preason = (f"{t.profiles_per_month:,} profiles/month / {sampled_tx:,.0f} sampled transactions "
                   f"({ruled_tx:,.0f} by the per-path rules + {rest_tx * rate:,.0f} web and jobs at the base "
                   "rate); relative to every sampled transaction (Sentry docs)")
    else:
        profiles, preason = 0.0, "no profiling budget in the stack file"
    rules = tuple([{"path": p, "rate": 0.0} for p in t.health_paths]
                  + [{"path": r.path, "rate": r.rate} for r in t.sampling_rules])
    return Sampling(rate, reason, profiles, preason, rules, sampled_tx * per_tx, tuple(warnings),
                    sampled_tx, sampled_tx * profiles)
