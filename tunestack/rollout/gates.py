"""The canary's measurements and the gate rules: pure, the same for every engine."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Metrics:
    requests: int
    errors: int
    p95_ms: float | None
    synthetic: int = 0     # of `requests`, those the rollout's own load sent (marked, counted apart)
    source: tuple[tuple[str, str], ...] = ()   # (query, what it returned) where a query measured them

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class GateResult:
    name: str
    ok: bool
    measured: str
    threshold: str


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest-rank


def evaluate(metrics: Metrics, max_error_rate: float, max_p95_ms: float, min_requests: int) -> list[GateResult]:
    """No data fails: a canary nobody called has proven nothing (Flagger #1035)."""
    enough = metrics.requests >= min_requests
    measured = str(metrics.requests) + (f" ({metrics.synthetic} synthetic)" if metrics.synthetic else "")
    out = [GateResult("min requests", enough, measured, f">= {min_requests}")]
    rate = metrics.error_rate
    out.append(GateResult("error rate", rate is not None and rate < max_error_rate,
                          "no data" if rate is None else f"{rate:.2%}", f"< {max_error_rate:.2%}"))
    out.append(GateResult("p95 latency", metrics.p95_ms is not None and metrics.p95_ms < max_p95_ms,
                          "no data" if metrics.p95_ms is None else f"{metrics.p95_ms:.0f} ms", f"< {max_p95_ms:g} ms"))
    return out


def load_needed(min_requests: int, bake_s: float, weight: int) -> int:
    """Requests per second at the entry point that give the canary `min_requests` in one bake."""
    return math.ceil(min_requests / (bake_s * max(weight, 1) / 100))


def plan_gates(plan) -> tuple[float, float, int]:
    """The gates a stack's plan sets: (max error rate, max p95 in ms, min requests)."""
    return (plan.rollout["gate_max_error_rate"].value, plan.rollout["gate_max_p95_ms"].value,
            plan.rollout["gate_min_requests"].value)
