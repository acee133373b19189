"""The local stack's rollout engine: a canary app process beside the stable one under supervisord,
HAProxy weights over its admin socket, and the canary's error rate and latency from the stack's
Prometheus where it runs one (rollout/promgates.py), else from HAProxy's own request log."""
from __future__ import annotations

import socket
from pathlib import Path

from ...plan.rollout import beside
from ...local.errors import wait_until
from ...servers import port_open
from ..gates import Metrics
from ..haproxy_log import HaproxyLogFile
from ..promgates import prometheus_gates


class HaproxyAdmin:
    """HAProxy's runtime API on its admin socket (a Unix socket only the stack's user can open)."""

    def __init__(self, socket_path: Path, backend: str = "app"):
        self.socket_path, self.backend = Path(socket_path), backend

    def command(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.socket_path))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode()

    def server_state(self, server: str) -> str:
        """UP, DOWN, or unknown (no such server), from `show servers state`."""
        for line in self.command(f"show servers state {self.backend}").splitlines():
            parts = line.split()
            if len(parts) > 5 and parts[3] == server:
                return "UP" if parts[5] == "2" else "DOWN"
        return "unknown"

    def set_weight(self, server: str, weight: int) -> None:
        self.command(f"set weight {self.backend}/{server} {weight}")


class LocalEngine:
    def __init__(self, local, stable_server: str, canary_server: str, canary_port: int, app_port: int,
                 admin: HaproxyAdmin, log: HaproxyLogFile, say=print, gates=None):
        """`local`: the stack's programs (LocalStack: write_rollout_programs and its supervisor);
        `gates`: where the canary is measured (a PrometheusGateSource); None: HAProxy's log."""
        self.local, self.say = local, say
        self.stable_server, self.canary_server = stable_server, canary_server
        self.canary_port, self.app_port = canary_port, app_port
        self.admin, self.log, self.gates = admin, log, gates

    @classmethod
    def for_stack(cls, local, plan, say=print) -> "LocalEngine":
        return cls(local, stable_server=next(r.name for r in plan.replicas if r.track == "stable"),
                   canary_server=next(r.name for r in plan.replicas if r.track == "canary"),
                   canary_port=plan.rollout["canary_port"].value, app_port=plan.app["port"].value,
                   admin=HaproxyAdmin(local.folders.run / "haproxy" / "haproxy.sock"),
                   log=HaproxyLogFile(local.folders.log / "haproxy.log"), say=say, gates=prometheus_gates(plan))

    def start_canary(self, version: str, env: dict[str, str]) -> None:
        self.local.write_rollout_programs(canary={"version": version, "env": env})
        self.local.supervisor.update(ensure_running="web-canary")   # a changed canary program is re-added
        wait_until(lambda: port_open(self.canary_port), 60, f"canary on port {self.canary_port}")
        # HAProxy must see the canary healthy before it gets traffic.
        wait_until(lambda: "UP" in self.admin.server_state(self.canary_server), 30,
                   "HAProxy health check of the canary")

    def set_weight(self, weight: int) -> str:
        split = beside(weight)  # the same weights the plan renders into haproxy.cfg
        self.admin.set_weight(self.stable_server, split.stable_server_weight)
        self.admin.set_weight(self.canary_server, split.canary_server_weight)
        return f"HAProxy weights {self.stable_server}={split.stable_server_weight} {self.canary_server}={split.canary_server_weight}"

    def mark(self):
        return self.gates.mark() if self.gates else self.log.mark()

    def measure(self, since) -> Metrics:
        return self.gates.measure(since) if self.gates else self.log.metrics_since(since, self.canary_server)

    def verify_canary(self, version: str) -> tuple[bool, str]:
        """testinfra on the canary's host: the process runs the new version and listens."""
        import testinfra

        host = testinfra.get_host("local://")
        if not host.socket(f"tcp://127.0.0.1:{self.canary_port}").is_listening:
            return False, f"nothing listens on 127.0.0.1:{self.canary_port}"
        pid = self.local.supervisor.pid("web-canary")
        variables = host.file(f"/proc/{pid}/environ").content_string if pid else ""
        if f"APP_VERSION={version}" not in variables.split("\0"):
            return False, f"canary process {pid} does not run APP_VERSION={version}"
        return True, f"canary pid {pid} runs {version} on :{self.canary_port}"

    def promote(self, version: str, env: dict[str, str]) -> None:
        """The canary serves everything while stable restarts on the new version; then traffic
        returns to stable and the canary slot is emptied. No moment without a healthy server."""
        self.set_weight(100)
        self.local.write_rollout_programs(stable={"version": version, "env": env})
        self.local.supervisor.update(ensure_running="web")   # the changed stable program is re-added
        wait_until(lambda: port_open(self.app_port), 60, "stable app")
        wait_until(lambda: "UP" in self.admin.server_state(self.stable_server), 30, "HAProxy health check of stable")
        self.set_weight(0)
        self.local.write_rollout_programs(canary=None)
        self.local.supervisor.update()

    def rollback(self) -> None:
        self.set_weight(0)
        self.local.write_rollout_programs(canary=None)
        self.local.supervisor.update()
