"""Before `up` touches anything: every port the stack listens on is free, or held by this stack's
own processes. Otherwise exit 3, naming the port, the service it is for and the process that holds
it, so the operator knows what to stop or which port to change."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..errors import EnvironmentProblem
from ..servers import which


def holders(port: int) -> list[tuple[str, int]]:
    """(program, pid) of what listens on `port` on this machine (ss -ltnp); [] when nothing does."""
    res = subprocess.run([which("ss") or "ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True)
    return [(name, int(pid)) for name, pid in re.findall(r'\("([^"]+)",pid=(\d+)', res.stdout)] or \
        ([("an unknown process", 0)] if res.stdout.strip() else [])


def _ancestors(pid: int) -> set[int]:
    """`pid` and every parent up to init, read from /proc/<pid>/stat."""
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return seen


def supervisord_pid(run_dir: Path) -> int | None:
    try:
        return int((run_dir / "supervisord.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def server_ports(plan) -> dict[str, int]:
    """Each server program's port: the plan's services, Patroni's and etcd's programs, the queue's
    replicas and Sentinels, the monitoring servers."""
    from .cluster import program_ports
    from .monitoring import program_ports as monitoring_ports
    from .sentinel import queue_program_ports

    return {**plan.ports(), **program_ports(plan), **queue_program_ports(plan), **monitoring_ports(plan)}


def listening_ports(plan) -> dict[str, int]:
    """Every port a local stack's processes listen on: the servers and the canary slot."""
    ports = server_ports(plan)
    if "canary_port" in plan.rollout:
        ports["web-canary"] = plan.rollout["canary_port"].value
    return ports


def check_ports_free(stack: str, ports: dict[str, int], run_dir: Path, supervisor_up: bool,
                     postmasters: set[int] = frozenset()) -> None:
    """EnvironmentProblem for the first planned port held by anything but this stack's supervisord
    and its children. `postmasters`: this stack's Patroni-run PostgreSQL servers, which Patroni
    detaches from itself (their PIDs from their own postmaster.pid)."""
    ours = supervisord_pid(run_dir) if supervisor_up else None
    taken = []
    for service, port in ports.items():
        for name, pid in holders(port):
            if ours and pid and (ours in _ancestors(pid) or pid in postmasters):
                continue
            taken.append(f"port {port} ({service}) is held by {name} (pid {pid or 'unknown'})")
    if taken:
        raise EnvironmentProblem(f"stack {stack} cannot start: " + "; ".join(taken) + ". Nothing was changed. "
                                 f"Stop that process, or give {stack} other ports in its stack file")



