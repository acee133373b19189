"""supervisord of one local stack: its XML-RPC API over the stack's Unix socket (supervisor's own
transport), and supervisorctl where the API has no call (reread, update)."""
from __future__ import annotations

import subprocess
import xmlrpc.client
from pathlib import Path

from ..servers import port_open, which
from .errors import LocalStackError, ProgramGaveUp, wait_until
from .folders import StateFolders

GAVE_UP = ("FATAL", "EXITED", "BACKOFF", "STOPPED")


class Supervisor:
    def __init__(self, folders: StateFolders, redact=lambda text: text):
        self.folders, self.redact = folders, redact
        self.conf = folders.etc / "supervisord.conf"
        self.socket = folders.run / "supervisor.sock"

    def rpc(self):
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://localhost", transport=transport)

    def ctl(self, *args: str, check: bool = True) -> str:
        res = subprocess.run([which("supervisorctl") or "supervisorctl", "-c", str(self.conf), *args],
                             capture_output=True, text=True)
        if check and res.returncode not in (0, 3):  # 3: some program not running (status)
            raise LocalStackError(f"supervisorctl {' '.join(args)}: {res.stdout}{res.stderr}".strip())
        return res.stdout

    def is_up(self) -> bool:
        """supervisord answers on this stack's socket (its XML-RPC getState)."""
        if not self.socket.exists():
            return False
        try:
            return self.rpc().supervisor.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def launch(self) -> None:
        subprocess.run([which("supervisord"), "-c", str(self.conf)], check=True)
        wait_until(self.is_up, 15, "supervisord")

    def shutdown(self) -> None:
        self.ctl("stop", "all")
        self.ctl("shutdown")
        wait_until(lambda: not self.is_up(), 60, "supervisord to exit")

    def programs(self) -> list[dict]:
        return self.rpc().supervisor.getAllProcessInfo()

    def running(self) -> set[str]:
        """The programs supervisord reports RUNNING."""
        return {p["name"] for p in self.programs() if p["statename"] == "RUNNING"}

    def pid(self, name: str) -> int:
        return self.rpc().supervisor.getProcessInfo(name)["pid"]

    def update(self, ensure_running: str | None = None) -> None:
        """Read a changed supervisord.conf: programs whose command or environment changed are
        restarted, removed ones stopped, new ones added; `ensure_running` is started if it is not."""
        self.ctl("reread")
        self.ctl("update")
        if ensure_running and ensure_running not in self.running():
            self.ctl("start", ensure_running)

    def wait_all_running(self, names, timeout: float = 30) -> None:
        """Every one of `names` RUNNING (past its startsecs), or LocalStackError with their states."""
        from ..poll import poll

        def states() -> dict[str, str]:
            return {p["name"]: p["statename"] for p in self.programs() if p["name"] in names}
        if not poll(lambda: set(states().values()) == {"RUNNING"}, timeout):
            raise LocalStackError("not every program runs: " + ", ".join(f"{k} {v}" for k, v in states().items()))

    def log_tail(self, name: str, lines: int = 10) -> tuple[Path, str]:
        log = self.folders.log / f"{name}.log"
        return log, "\n".join(log.read_text().splitlines()[-lines:]) if log.exists() else ""

    def start(self, services: list[str], ports: dict[str, int]) -> None:
        """Start `services` at once (startProcess without waiting out each one's startsecs), then
        wait until each serves: its port open, or running if it has none. A program that gives up
        fails at once with its own last words."""
        import xmlrpc.client

        rpc = self.rpc()
        for service in services:
            try:
                rpc.supervisor.startProcess(service, False)
            except xmlrpc.client.Fault as exc:   # ALREADY_STARTED (e.g. in BACKOFF), BAD_NAME
                raise LocalStackError(f"supervisord would not start {service}: {exc.faultString}") from None

        def serving(service: str) -> bool:
            state = rpc.supervisor.getProcessInfo(service)["statename"]
            if state in GAVE_UP:
                log, tail = self.log_tail(service)
                raise ProgramGaveUp(self.redact(f"{service} did not start ({state})\n{service} log ({log}):\n{tail}"))
            return port_open(ports[service]) if service in ports else state == "RUNNING"
        for service in services:
            wait_until(lambda: serving(service), 60, f"{service} to serve")
