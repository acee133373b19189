"""Benchmark: time to plan and render every stack. Not a test: it prints, it asserts nothing.

    .venv/bin/python bench/plan_render.py [--format json]   (or: python -m tunestack bench --only plan)

Cold = first plan of a fresh process (imports, catalog and instance-table loading included);
warm = the median of 20 further rounds. Both are measured in the same run, side by side.
"""
from __future__ import annotations

import argparse
import sys
import statistics
import time


def measure(rounds: int = 20) -> dict:
    t0 = time.perf_counter()
    from tunestack import stackfile
    from tunestack.plan import plan_stack
    from tunestack.render import render_plan

    def once() -> tuple[float, float]:
        plan_s = render_s = 0.0
        for name in stackfile.stack_names():
            a = time.perf_counter()
            plan = plan_stack(name)
            b = time.perf_counter()
            render_plan(plan)
            c = time.perf_counter()
            plan_s += b - a
            render_s += c - b
        return plan_s, render_s

    cold_plan, cold_render = once()
    cold_total = time.perf_counter() - t0
    warm = [once() for _ in range(rounds)]
    warm_plan = statistics.median(p for p, _ in warm)
    warm_render = statistics.median(r for _, r in warm)
    result = {
        "stacks": stackfile.stack_names(),
        "cold_seconds_incl_imports": round(cold_total, 4),
        "cold_plan_seconds": round(cold_plan, 4), "cold_render_seconds": round(cold_render, 4),
        "warm_plan_seconds": round(warm_plan, 4), "warm_render_seconds": round(warm_render, 4),
        "warm_total_seconds": round(warm_plan + warm_render, 4),
        "cold_to_warm_ratio": round(cold_total / (warm_plan + warm_render), 1),
        "rounds": rounds,
    }
    return result


if __name__ == "__main__":  # the same table as `python -m tunestack bench --only plan`
    from bench.run import run

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    sys.exit(run("plan", parser.parse_args().format))
