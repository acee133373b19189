"""tunestack:rollout and the rollout's own keys (canaryWeight, canaryReplicas, canaryEnv): steps,
gates, bake, and a canary only where there is a canary image and replicas for it."""
from __future__ import annotations

from ...choices import MAX_BAKE_MS, MAX_LOAD_RATE
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


# Variables the canary's extra environment may not set: what the loader runs, where the app
# connects and with which secrets. canaryEnv is for what the new version is told (feature flags).
RESERVED_PREFIXES = ("LD_", "DYLD_", "PYTHON", "NODE_", "RUBY", "GEM_", "BUNDLE_", "GO", "DATABASE_", "REDIS_", "PG",
                     "PUMA_", "TUNESTACK_", "SENTRY_", "MALLOC_")
RESERVED_NAMES = ("PATH", "ENV", "BASH_ENV", "HOME", "USER", "SHELL", "TMPDIR", "BIND", "PORT", "WEB_CONCURRENCY")


def _canary_env(ck: Checker) -> tuple:
    env = ck.config.get(f"{NS}:canaryEnv", {})
    for key, value in env.items():
        if key.upper().startswith(RESERVED_PREFIXES) or key.upper() in RESERVED_NAMES:
            ck.problem([f"{NS}:canaryEnv", key], key, "a variable of the app's own (a feature flag), not one that "
                       "changes what runs or where it connects (LD_*, PATH, DATABASE_*, REDIS_*, PG*, …)",
                       "remove it: connections and secrets come from the plan, the same for both tracks")
        elif any(ord(ch) < 32 or ord(ch) == 127 for ch in str(value)):
            ck.problem([f"{NS}:canaryEnv", key], "(a value with control characters)", "printable text only",
                       "remove the escape or control characters from the value")
    return tuple(sorted(env.items()))


def _gates_passable(ck: Checker, gates: GatesSpec, steps: tuple, bake_ms: int) -> None:
    """Gates some rollout can pass: a p95 HAProxy can measure (whole ms), and a request count the
    canary can get in one bake at the first step, from the stack's peak or the rollout's own load."""
    if gates.max_p95_ms < 1:
        ck.problem([KEY, "gates", "max_p95_ms"], gates.max_p95_ms, "at least 1: HAProxy logs times in whole ms",
                   "write the p95 your users accept, e.g. 300")
    rate = max(float(ck.config.get(f"{NS}:traffic", {}).get("peak_rps", 0) or 0), MAX_LOAD_RATE)
    reachable = int(rate * bake_ms / 1000 * steps[0] / 100)
    if gates.min_requests > reachable:
        ck.problem([KEY, "gates", "min_requests"], gates.min_requests,
                   f"at most {reachable}: the canary's share at the first step ({steps[0]} %) of {rate:g} requests/s "
                   f"(peak_rps, or the rollout's own load) over one {bake_ms // 1000} s bake",
                   "lower min_requests, or bake longer")


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
    canary_env = _canary_env(ck)
    bake_ms = ck.duration([KEY, "bake"], c.get("bake"), minimum_ms=1000)
    if bake_ms is not None and bake_ms > MAX_BAKE_MS:
        ck.problem([KEY, "bake"], c["bake"], "at most 24h: each step holds the rollout that long",
                   "write the time a step needs to show its errors, e.g. 5m")
    elif steps and steps[-1] == 100:
        _gates_passable(ck, gates, steps, bake_ms or RolloutSpec.bake_ms)
    return RolloutSpec(steps=steps, gates=gates, canary_weight=weight, canary_replicas=replicas, canary_env=canary_env,
                       **present(bake_ms=bake_ms), **given(c, max_surge_percent="max_surge"))
