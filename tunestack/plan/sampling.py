"""Sentry sample rates from traffic and a monthly tracing budget (runtime-rules.md §5.2):
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
    monthly_units: float          # expected spans/transactions a month at these rates
    warnings: tuple[str, ...]


def plan_sampling(t: TrafficSpec) -> Sampling:
    per_tx = t.spans_per_transaction if t.tracing_unit == "spans" else 1.0
    monthly = t.peak_rps * SECONDS_PER_MONTH * per_tx  # volume at rate 1.0, from peak (conservative)
    ruled_share = sum(r.share or 0 for r in t.sampling_rules)
    ruled_use = sum((r.share or 0) * monthly * r.rate for r in t.sampling_rules)
    rest = max(0.0, 1.0 - ruled_share) * monthly
    left = t.tracing_per_month - ruled_use
    warnings = [f"sampling rule {r.path} has no share: its volume is not counted against the budget"
                for r in t.sampling_rules if r.share is None]
    if rest <= 0:
        rate = 0.0
    else:
        rate = floor_sig(min(1.0, max(0.0, left) / rest))
    unit = t.tracing_unit
    reason = (f"{t.tracing_per_month:,} {unit}/month budget / ({t.peak_rps:g} req/s peak × 2,592,000 s"
              + (f" × {per_tx:g} spans" if per_tx != 1 else "") + ")")
    if ruled_use:
        reason += f", after {ruled_use:,.0f} {unit} for the per-path rules"
    if rate == 1.0:
        reason += ": the budget covers every request"
    expected = ruled_use + rest * rate
    if t.profiles_per_month and rate > 0:
        profiles = floor_sig(min(1.0, t.profiles_per_month / (t.peak_rps * SECONDS_PER_MONTH * rate)))
        preason = (f"{t.profiles_per_month:,} profiles/month / (traced transactions: {t.peak_rps:g} req/s × "
                   f"2,592,000 s × {rate:g}); relative to traces_sample_rate (Sentry docs)")
    else:
        profiles, preason = 0.0, "no profiling budget in the stack file"
    rules = tuple([{"path": p, "rate": 0.0} for p in t.health_paths]
                  + [{"path": r.path, "rate": r.rate} for r in t.sampling_rules])
    return Sampling(rate, reason, profiles, preason, rules, expected, tuple(warnings))
