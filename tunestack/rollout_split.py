"""How a rollout weight becomes replicas and load-balancer weights. Pure; used by the planner.

Replicas follow Argo Rollouts' basic canary: the whole number of canary replicas nearest to the
weight, ties rounded up, at least one canary above 0% and every replica at 100%. The load
balancer then weighs each server so that the canary's share of traffic is the requested weight,
not just canary/total replicas.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

HAPROXY_MAX_WEIGHT = 256  # HAProxy server weights run 0–256


@dataclass(frozen=True)
class Split:
    weight: int            # requested canary share, %
    stable: int            # stable replicas
    canary: int            # canary replicas
    replica_weight: float  # canary share by replica count alone, %
    stable_server_weight: int  # HAProxy weight of each stable server
    canary_server_weight: int  # HAProxy weight of each canary server

    @property
    def lb_weight(self) -> float:
        """Canary share of traffic with the load-balancer weights, %."""
        total = self.stable * self.stable_server_weight + self.canary * self.canary_server_weight
        return 100.0 * self.canary * self.canary_server_weight / total if total else 0.0


def split(total: int, weight: int) -> Split:
    if not 0 <= weight <= 100:
        raise ValueError(f"weight {weight} is not between 0 and 100")
    if total < 1:
        raise ValueError("at least one replica")
    if weight == 0:
        return Split(0, total, 0, 0.0, 1, 0)
    if weight == 100:
        return Split(100, 0, total, 100.0, 0, 1)
    canary = math.floor(total * weight / 100 + 0.5)  # nearest, ties up
    canary = min(total, max(1, canary))
    stable = total - canary
    if stable == 0:
        return Split(weight, 0, canary, 100.0, 0, 1)
    # canary_each × canary : stable_each × stable = weight : (100 − weight)
    c_each, s_each = weight * stable, (100 - weight) * canary
    g = math.gcd(c_each, s_each)
    c_each, s_each = c_each // g, s_each // g
    scale = max(c_each, s_each) / HAPROXY_MAX_WEIGHT
    if scale > 1:
        c_each, s_each = max(1, round(c_each / scale)), max(1, round(s_each / scale))
    return Split(weight, stable, canary, 100.0 * canary / total, s_each, c_each)


def beside(weight: int) -> Split:
    """The local stack's canary runs beside the one stable replica: the load balancer alone splits,
    stable at 100 − weight and canary at weight (HAProxy weights are relative)."""
    if not 0 <= weight <= 100:
        raise ValueError(f"weight {weight} is not between 0 and 100")
    return Split(weight, 1, 1 if weight else 0, float(weight), 100 - weight, weight)


def reachable_weights(total: int) -> list[float]:
    """Canary shares that replica counts alone can give (10% needs at least 10 replicas)."""
    return [round(100.0 * k / total, 1) for k in range(total + 1)]
