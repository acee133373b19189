"""The rollout benchmark's measurement (bench/rollout_docker.py runs this module in the checkout):
the staging shape on the multihost bed, steps as run-time weights against steps as program applies
replayed on the real engine, and a failed gate's way back to weight 0."""
from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from pathlib import Path


def _median_seconds(action, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.monotonic()
        action()
        times.append(time.monotonic() - t0)
    return round(statistics.median(times), 3)


class GivenEngine:
    """An engine someone else runs, with the images built: start builds nothing, stop stops nothing."""

    def __init__(self, url: str):
        import docker

        self.url, self.client = url, docker.DockerClient(base_url=url, timeout=300)

    def start(self):
        return self

    def stop(self):
        pass


def measure(say=print, rounds: int = 5) -> dict:
    import tempfile

    from components.mockrun import run_program
    from tests.docker.engine import Engine, images_to_build
    from tests.multihost.bed import Bed
    from tests.docker.replay import ReplayStack
    from tests.multihost.staging import IMAGES, deploy
    from tunestack import images
    from tunestack.rollout import DockerEngine, LoadBalancerControl

    # TUNESTACK_BENCH_ENGINE: an engine that has the images already (the test session's, for the
    # smoke run): copied from, never started or stopped here
    given = os.environ.get("TUNESTACK_BENCH_ENGINE")
    engine, bed = (GivenEngine(given) if given else Engine()), Bed(subnet=8)   # its own range: it may run beside the tests
    path_before, stacks_dir = os.environ["PATH"], tempfile.mkdtemp(prefix="tunestack-bench-")
    try:
        engine.start()
        say("  building the images …")
        images.build(engine.client, say=say, recipes=images_to_build())
        bed.start()
        os.environ["PATH"] = bed.env["PATH"]
        say("  deploying the staging shape on the bed …")
        replay, plan, stacks = deploy(bed, engine.url, Path(stacks_dir), say=say)
        stack = ReplayStack(replay, stacks / "Pulumi.bed.yaml", "bed")
        lb = LoadBalancerControl("bed-lb", bed.hosts["cache"].url, env=bed.env)
        docker = DockerEngine.for_stack(plan, stack, lb, say=lambda m: None)
        say("  starting the canary (the first apply) …")
        t0 = time.monotonic()
        docker.start_canary(IMAGES["canary_app"], {})
        start_s = round(time.monotonic() - t0, 3)
        weights = [w for _ in range(rounds) for w in (10, 50)]
        say(f"  {len(weights)} steps as run-time weights …")
        step_s = _median_seconds(lambda: docker.set_weight(weights.pop()), len(weights))
        say(f"  {rounds} steps as program applies …")
        applies = [w for _ in range(rounds) for w in (10, 50)]

        from pulumi import automation as auto

        def apply_step():
            stack.set_config("tunestack:canaryWeight", auto.ConfigValue(value=str(applies.pop())))
            replay.update(run_program("bed", stack_file=stack.path))
        apply_s = _median_seconds(apply_step, rounds)
        say("  a failed gate: to weight 0, then the program puts the replicas back …")
        docker.set_weight(50)
        t0 = time.monotonic()
        docker.set_weight(0)
        to_zero_s = round(time.monotonic() - t0, 3)
        t0 = time.monotonic()
        docker._finish("rollout: roll back to stable")
        rollback_apply_s = round(time.monotonic() - t0, 3)
    finally:
        os.environ["PATH"] = path_before
        bed.stop()
        engine.stop()
        shutil.rmtree(stacks_dir, ignore_errors=True)   # the bed's stack file
    return {"rounds": rounds, "start_canary_seconds": start_s, "step_runtime_weights_seconds": step_s,
            "step_program_apply_seconds": apply_s,
            "step_ratio": round(apply_s / step_s, 1) if step_s else None,
            "failed_gate_to_weight_0_seconds": to_zero_s, "rollback_apply_seconds": rollback_apply_s}


if __name__ == "__main__":
    import sys

    result = measure(say=lambda m: print(m, file=sys.stderr, flush=True),
                                  rounds=int(sys.argv[1]) if len(sys.argv) > 1 else 5)
    print(json.dumps(result))
