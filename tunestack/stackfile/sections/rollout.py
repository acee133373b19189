"""tunestack:rollout and the rollout's own keys (canaryWeight, canaryReplicas, canaryEnv): steps,
gates, bake, and a canary only where there is a canary image and replicas for it."""
from __future__ import annotations

from ..checker import Checker, given, present
from ..schema import NS
from ..spec import GatesSpec, RolloutSpec

KEY = f"{NS}:rollout"


def _canary(ck: Checker) -> tuple[int, int | None]:
    images = ck.config.get(f"{NS}:images", {})
    weight = ck.config.get(f"{NS}:canaryWeight", RolloutSpec.canary_weight)
    if weight and not images.get("canary_app"):
        ck.problem([f"{NS}:canaryWeight"], weight, "0 while no canary image is set",
                   "set tunestack:images.canary_app, or canaryWeight: 0")
    replicas = ck.config.get(f"{NS}:canaryReplicas")
    machines = sum(h.get("count", 1) for h in ck.config.get(f"{NS}:hosts", []) if "app" in h.get("roles", []))
    if replicas is not None and replicas > machines:
        ck.problem([f"{NS}:canaryReplicas"], replicas, f"at most the {machines} app replica(s)",
                   "lower canaryReplicas, or add app hosts")
    if replicas and not images.get("canary_app"):
        ck.problem([f"{NS}:canaryReplicas"], replicas, "0 while no canary image is set",
                   "set tunestack:images.canary_app, or canaryReplicas: 0")
    return weight, replicas


def rollout(ck: Checker) -> RolloutSpec:
    c = ck.config.get(KEY, {})
    steps = tuple(c.get("steps", RolloutSpec.steps))
    if any(b <= a for a, b in zip(steps, steps[1:])):
        ck.problem([KEY, "steps"], list(steps), "weights that rise step by step", "sort them, e.g. [10, 25, 50, 100]")
    elif steps[-1] != 100:
        ck.problem([KEY, "steps"], list(steps), "a last step of 100", "end the steps with 100")
    g = c.get("gates", {})
    ck.note_given("rollout", g, "gates.")
    gates = GatesSpec(**given(g, max_error_rate="max_error_rate", max_p95_ms="max_p95_ms", min_requests="min_requests"))
    weight, replicas = _canary(ck)
    canary_env = tuple(sorted(ck.config.get(f"{NS}:canaryEnv", {}).items()))
    return RolloutSpec(steps=steps, gates=gates, canary_weight=weight, canary_replicas=replicas, canary_env=canary_env,
                       **present(bake_ms=ck.duration([KEY, "bake"], c.get("bake"), minimum_ms=1000)),
                       **given(c, max_surge_percent="max_surge"))
