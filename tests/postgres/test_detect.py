"""--detect: the machine's memory and CPUs, lowered by the cgroup's limits (cgroup v2 memory.max
and cpu.max, v1 memory.limit_in_bytes and cpu.cfs_quota_us / cpu.cfs_period_us; kernel docs,
cgroup-v2.rst and cgroup-v1/cpu.rst)."""
import pytest

from tunestack.postgres.detect import detect

GIB = 1024**3
MEMINFO = "MemTotal:       16384000 kB\nMemFree: 1 kB\n"



@pytest.mark.parametrize("extra,memory,cpus", [
    ({}, 16384000 * 1024, 8),                                                        # no cgroup limit
    ({"/sys/fs/cgroup/memory.max": "max\n", "/sys/fs/cgroup/cpu.max": "max 100000\n"}, 16384000 * 1024, 8),
    ({"/sys/fs/cgroup/memory.max": f"{4 * GIB}\n", "/sys/fs/cgroup/cpu.max": "150000 100000\n"}, 4 * GIB, 2),
    ({"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 16384000 * 1024, 8),   # v1 "none"
    ({"/sys/fs/cgroup/memory/memory.limit_in_bytes": f"{2 * GIB}\n",
      "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "200000\n", "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"},
     2 * GIB, 2),
    ({"/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n", "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"},
     16384000 * 1024, 8),                                                            # v1 quota -1: none
    ({"/sys/fs/cgroup/cpu.max": "1600000 100000\n"}, 16384000 * 1024, 8),            # above the machine: the machine
])
def test_limits(extra, memory, cpus):
    table = {"/proc/meminfo": MEMINFO, **extra}
    found = detect(read=table.get, affinity=8)
    assert (found.memory_bytes, found.cpus) == (memory, cpus)


def test_this_machine():
    found = detect()
    assert found.memory_bytes > 256 * 1024**2 and found.cpus >= 1
