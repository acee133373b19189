"""CPU sets per role for the benchmarks: each setup on the CPUs its own configuration gives it (a
plan's CPU sets, or any CPU for a stock setup), the load generator on CPUs of its own where the
machine has more than the stack's host uses, and a way to move a running server's threads."""
from __future__ import annotations

import os
from pathlib import Path


def load_cpus(stack_cpus: int) -> set[int] | None:
    """The CPUs beyond the first `stack_cpus` this process may use, for the load generator; None
    when there are none (wrk then shares the stack's CPUs, on a 2-core machine with a 2-CPU stack)."""
    spare = sorted(os.sched_getaffinity(0))[stack_cpus:]
    return set(spare) or None


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def pin_tree(pid: int, cpus: set[int]) -> int:
    """Every thread of `pid` and of its descendants onto `cpus` (what they fork later inherits it).
    Returns the threads moved."""
    moved, todo = 0, [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                os.sched_setaffinity(int(task.name), cpus)
                moved += 1
            except OSError:   # a thread that ended meanwhile
                pass
        todo += _children(p)
    return moved


def on_cpus(cpus: set[int] | None, then=None):
    """A preexec_fn: the child runs on `cpus` (then `then()`, e.g. raise_nofile)."""
    def pre() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        if then:
            then()
    return pre
