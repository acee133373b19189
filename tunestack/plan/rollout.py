"""Rollouts: how a weight becomes replicas and load-balancer weights, and the rollout settings.
Pure.

Replicas follow Argo Rollouts' basic canary: the whole number of canary replicas nearest to the
weight, ties rounded up, at least one canary above 0% and every replica at 100%. The load
balancer then weighs each server so that the canary's share of traffic is the requested weight,
not just canary/total replicas.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..stackfile.spec import RolloutSpec
from ..units import plural
from .setting import Setting, seconds

if TYPE_CHECKING:   # placement asks this module where the canary runs
    from .placement import Placement, ReplicaSpot

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
    return fixed_split(total, min(total, max(1, canary)), weight)


def fixed_split(total: int, canary: int, weight: int) -> Split:
    """`canary` of `total` replicas run the canary: the load-balancer weights that give it `weight`%
    of traffic. A Docker rollout starts its canary replicas at weight 0 and then moves only these
    weights, at run time, step by step."""
    stable = total - canary
    replica_weight = 100.0 * canary / total
    if canary == 0 or weight == 0:
        return Split(weight, stable, canary, replica_weight, 1, 0)
    if stable == 0 or weight == 100:
        return Split(weight, stable, canary, replica_weight, 0, 1)
    # canary_each × canary : stable_each × stable = weight : (100 − weight)
    c_each, s_each = weight * stable, (100 - weight) * canary
    g = math.gcd(c_each, s_each)
    c_each, s_each = c_each // g, s_each // g
    scale = max(c_each, s_each) / HAPROXY_MAX_WEIGHT
    if scale > 1:
        c_each, s_each = max(1, round(c_each / scale)), max(1, round(s_each / scale))
    return Split(weight, stable, canary, replica_weight, s_each, c_each)


def rollout_canary_replicas(total: int, steps: tuple[int, ...]) -> int:
    """How many replicas a Docker rollout starts on the new version: enough for its largest step
    below 100% (the nearest whole count, as Argo Rollouts rounds), at least one."""
    partial = [w for w in steps if w < 100]
    return split(total, max(partial)).canary if partial else total


def canary_takes_every_replica(total: int, steps: tuple[int, ...]) -> bool:
    """Would the canary replicas of a step below 100% be every replica (one app replica, or a step
    that rounds up to all of them)? Then nothing stable is left to carry the rest of the traffic and
    the "10%" step sends the canary everything: such a stack runs its canary beside stable."""
    return any(0 < w < 100 for w in steps) and rollout_canary_replicas(total, steps) >= total


def beside(weight: int, canary_runs: bool | None = None) -> Split:
    """A canary in its own slot beside the stable replica(s): the load balancer alone splits, stable
    at 100 − weight and canary at weight (HAProxy weights are relative). `canary_runs`: a Docker
    rollout starts its canary at weight 0 (by default it runs whenever its weight is above 0)."""
    if not 0 <= weight <= 100:
        raise ValueError(f"weight {weight} is not between 0 and 100")
    runs = bool(weight) if canary_runs is None else canary_runs
    return Split(weight, 1, 1 if runs else 0, float(weight), 100 - weight, weight)


def reachable_weights(total: int) -> list[float]:
    """Canary shares that replica counts alone can give (10% needs at least 10 replicas)."""
    return [round(100.0 * k / total, 1) for k in range(total + 1)]


@dataclass(frozen=True)
class Replica:
    """An app replica behind the load balancer, in the current rollout state."""
    name: str
    host: str
    index: int
    machine: int
    track: str        # stable | canary
    address: str      # how the load balancer reaches it
    port: int
    weight: int       # its HAProxy server weight
    publish: str | None
    idle: bool = False   # a slot the load balancer keeps at weight 0 for a canary that is not running (Docker)

    def to_json(self) -> dict:
        return asdict(self)


def plan_splits(rollout: RolloutSpec, total: int, canary_beside: bool) -> dict[int, Split]:
    """Every weight the rollout can be at: 0, each step, and the stack's current canaryWeight."""
    weights = sorted({0, *rollout.steps, rollout.canary_weight})
    return {w: beside(w) if canary_beside else split(total, w) for w in weights}


def place_replicas(placement: Placement, current: Split) -> list[Replica]:
    """Replicas in fleet order; the first `current.canary` run the canary unless it runs beside. A
    Docker canary slot with no canary running stays in the list, idle: the load balancer keeps its
    server at weight 0, so starting a canary fills a slot and never adds one."""
    beside_slot = placement.canary is not None

    def replica(spot: ReplicaSpot, track: str, idle: bool = False) -> Replica:
        weight = current.canary_server_weight if track == "canary" else current.stable_server_weight
        return Replica(spot.name, spot.host.name, spot.index, spot.machine, track, spot.address, spot.port,
                       weight, spot.publish, idle)

    out = [replica(s, "canary" if not beside_slot and s.index < current.canary else "stable")
           for s in placement.replicas]
    if beside_slot:
        out.append(replica(placement.canary, "canary", idle=placement.docker and current.canary == 0))
    return out


def running(replicas: list[Replica]) -> list[Replica]:
    """The replicas that run something: not an idle canary slot."""
    return [r for r in replicas if not r.idle]


def rollout_settings(rollout: RolloutSpec, total: int, surge_hosts: int, splits: dict[int, Split],
                     placement: Placement, source_of) -> dict[str, Setting]:
    settings = {
        "steps": Setting(rollout.steps, "stack file", source_of("rollout.steps")),
        "bake": seconds(rollout.bake_ms, "stack file", source_of("rollout.bake")),
        "max_surge_hosts": Setting(surge_hosts, f"{rollout.max_surge_percent}% of {total} app hosts, rounded up"),
        "gate_max_error_rate": Setting(rollout.gates.max_error_rate, "stack file (default 1%)",
                                       source_of("rollout.gates.max_error_rate")),
        "gate_max_p95_ms": Setting(rollout.gates.max_p95_ms, "stack file (default 200 ms)",
                                   source_of("rollout.gates.max_p95_ms")),
        "gate_min_requests": Setting(rollout.gates.min_requests, "no data fails the gate",
                                     source_of("rollout.gates.min_requests")),
    }
    for w in rollout.steps:
        sp = splits[w]
        weights_text = f"HAProxy weights {sp.stable_server_weight}:{sp.canary_server_weight}"
        if placement.canary is not None:
            settings[f"split_{w}"] = Setting(f"stable + canary beside it, {weights_text}",
                                             f"{w}% by load-balancer weights alone: the canary runs beside stable")
        else:
            settings[f"split_{w}"] = Setting(
                f"{sp.stable} stable / {sp.canary} canary, {weights_text}",
                f"{w}% of {total} replicas: nearest whole count {sp.canary} ({sp.replica_weight:.0f}% by "
                f"replicas), load-balancer weights bring it to {sp.lb_weight:.0f}%")
    settings["canary_weight"] = Setting(rollout.canary_weight, "the rollout state in the stack config",
                                        source_of("canaryWeight"))
    largest = max([w for w in rollout.steps if w < 100], default=100)
    if placement.docker and placement.canary is not None:
        slot = placement.canary
        settings["canary_replicas"] = Setting(
            1, f"a Docker rollout starts one canary container beside the {plural(total, 'stable replica')} "
               f"({slot.name}, on {slot.host.name}) at weight 0, then moves load-balancer weights at run time: "
               f"replacing replicas would put the canary on all {total} at the {largest}% step and leave none "
               "stable, so a step's share would not be the step's share")
    elif placement.docker:
        n = rollout_canary_replicas(total, rollout.steps)
        settings["canary_replicas"] = Setting(
            n, f"a Docker rollout starts {n} of {total} replicas on the new version at weight 0 (enough for its "
               f"largest step below 100%, {largest}%), then moves load-balancer weights at run time")
    if placement.canary is not None and placement.canary.publish is not None:
        settings["canary_port"] = Setting(placement.canary.port, f"the app port + 100: the canary's slot beside "
                                                                 f"stable on {placement.canary.publish}")
    elif placement.canary is not None and not placement.docker:
        settings["canary_port"] = Setting(placement.canary.port, "the app port + 100: the local canary slot")
    return settings


def replica_warning(total: int, steps: tuple[int, ...], canary_beside: bool) -> str | None:
    if total >= 10 or canary_beside or not any(0 < w < 100 for w in steps):
        return None
    reachable = ", ".join(f"{x:g}%" for x in reachable_weights(total))
    return (f"{total} app replica(s): replica counts alone reach only {reachable}; "
            + ("load-balancer weights make the other steps exact" if total > 1
               else "a canary replaces the only replica, so steps below 100% need more replicas"))


# What every app process is given besides the plan's env (local programs, the app containers).
PROCESS_ENV = ("TUNESTACK_TRACK", "APP_VERSION", "APP_BUILD", "TUNESTACK_RUNTIME_TOKEN_FILE", "DATABASE_PASSWORD_FILE",
               "REDIS_PASSWORD_FILE", "REDIS_CACHE_PASSWORD_FILE")


def canary_env_conflicts(env: dict[str, str], web_env: dict, jobs_env: dict) -> list[str]:
    """canaryEnv (or `rollout --env`) keys the plan sets itself. A container's env is a set to the
    Docker provider, so a second `KEY=` would leave which value wins to chance, and a setting the
    planner computed must not be computed twice: the canary's extra environment is for the app's
    own variables (feature flags) only."""
    return sorted(k for k in env if k in web_env or k in jobs_env or k in PROCESS_ENV)
