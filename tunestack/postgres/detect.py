"""This host's memory and CPUs for `tunestack postgres --detect`, as a container sees them: the
cgroup's limits where they are lower than the machine's (what timescaledb-tune reads too).

- memory: /proc/meminfo MemTotal; cgroup v2 memory.max, or v1 memory/memory.limit_in_bytes;
- CPUs: the CPUs this process may run on (sched_getaffinity); cgroup v2 cpu.max, or v1
  cpu.cfs_quota_us / cpu.cfs_period_us, rounded up (a quota of 1.5 CPUs can use 2 at once).

`read(path)` is the only I/O, so the rules are table-tested with made-up files."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

NO_LIMIT_V1 = 1 << 62   # cgroup v1 writes a huge number (page-rounded 2^63 - 1) for "no limit"


@dataclass(frozen=True)
class Detected:
    memory_bytes: int
    cpus: int
    memory_from: str
    cpus_from: str


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def detect(read=_read, affinity: int | None = None) -> Detected:
    meminfo = read("/proc/meminfo") or ""
    total = next((int(line.split()[1]) * 1024 for line in meminfo.splitlines() if line.startswith("MemTotal:")), None)
    if total is None:
        raise OSError("/proc/meminfo has no MemTotal: pass --memory")
    memory, memory_from = total, "/proc/meminfo MemTotal"
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        text = (read(path) or "").strip()
        if text.isdigit() and int(text) < min(memory, NO_LIMIT_V1):
            memory, memory_from = int(text), f"cgroup {path}"
            break
    cpus = affinity if affinity is not None else len(os.sched_getaffinity(0))
    cpus_from = "the CPUs this process may use (sched_getaffinity)"
    quota = _cpu_quota(read)
    if quota is not None and math.ceil(quota[0]) < cpus:
        cpus, cpus_from = max(1, math.ceil(quota[0])), f"cgroup {quota[1]}"
    return Detected(memory, cpus, memory_from, cpus_from)


def _cpu_quota(read) -> tuple[float, str] | None:
    v2 = (read("/sys/fs/cgroup/cpu.max") or "").split()
    if len(v2) == 2 and v2[0] != "max":
        return int(v2[0]) / int(v2[1]), "/sys/fs/cgroup/cpu.max"
    quota = (read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") or "").strip()
    period = (read("/sys/fs/cgroup/cpu/cpu.cfs_period_us") or "").strip()
    if quota.lstrip("-").isdigit() and period.isdigit() and int(quota) > 0:
        return int(quota) / int(period), "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"
    return None
