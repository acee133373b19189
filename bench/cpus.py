"""CPU sets per role, so a comparison is fair and repeatable on a small machine: the servers being
measured on some CPUs, the load generator on another, the same for every setup compared. Without
them wrk and the servers fight over the same cores, and which one wins changes from run to run."""
from __future__ import annotations

import os
from pathlib import Path


def cpu_sets() -> tuple[set[int] | None, set[int] | None]:
    """(servers, load generator): the last CPU this process may use drives the load, the others
    serve. One CPU only: no sets (None, None), everything shares it."""
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        return None, None
    return set(mine[:-1]), {mine[-1]}


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def pin_tree(pid: int, cpus: set[int] | None) -> int:
    """Every thread of `pid` and of its descendants onto `cpus` (what they fork later inherits it).
    Returns the threads pinned."""
    if not cpus:
        return 0
    pinned, todo = 0, [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                os.sched_setaffinity(int(task.name), cpus)
                pinned += 1
            except (ProcessLookupError, PermissionError, OSError):
                pass
        todo += _children(p)
    return pinned


def on_cpus(cpus: set[int] | None, then=None):
    """A preexec_fn: the child runs on `cpus` (then `then()`, e.g. raise_nofile)."""
    def pre() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        if then:
            then()
    return pre
