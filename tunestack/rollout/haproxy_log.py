"""HAProxy's request log as the rollout's measurement stream: the parser (pure) and a reader of
the local stack's log file that survives supervisord's rotation."""
from __future__ import annotations

import re
from pathlib import Path

from .gates import Metrics, p95

# HAProxy httplog: `... web app/SERVER TR/Tw/Tc/Tr/Ta STATUS ... {SYNTHETIC} "GET ..."`; the
# frontend captures the X-Tunestack-Synthetic request header into the braces.
_LOG_LINE = re.compile(r" \S+ [^/\s]+/(?P<server>\S+) -?\d+/-?\d+/-?\d+/-?\d+/(?P<ta>-?\d+) (?P<status>\d{3}) ")
SYNTHETIC_HEADER = "X-Tunestack-Synthetic"


def parse_haproxy_log(text: str, servers) -> Metrics:
    """The requests of `servers` (a server name, or several: a replica's server-template slots
    `<name>-<n>` count as the replica) in HAProxy's httplog."""
    names = {servers} if isinstance(servers, str) else set(servers)
    requests = errors = synthetic = 0
    latencies: list[float] = []
    for line in text.splitlines():
        m = _LOG_LINE.search(line)
        if not m or not (m.group("server") in names or m.group("server").rsplit("-", 1)[0] in names):
            continue
        requests += 1
        errors += m.group("status").startswith("5")
        synthetic += "{1}" in line
        if int(m.group("ta")) >= 0:
            latencies.append(float(m.group("ta")))
    return Metrics(requests, errors, p95(latencies), synthetic)


class HaproxyLogFile:
    """The local stack's haproxy.log, read from a mark. supervisord rotates it by renaming it to
    haproxy.log.1, so a position is only meaningful together with the file (inode) it is in."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def mark(self) -> tuple[int, int]:
        """Where the log stands: (inode, size)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (st.st_ino, st.st_size)

    def read_since(self, since: tuple[int, int]) -> str:
        """The log text written since `mark()`, across a rotation in between."""
        inode, offset = since
        parts = []
        rotated = self.path.with_name(self.path.name + ".1")
        current_inode = self.path.stat().st_ino if self.path.exists() else 0
        if inode and inode != current_inode and rotated.exists() and rotated.stat().st_ino == inode:
            with open(rotated, "rb") as f:   # the rest of the file we were in when it rotated
                f.seek(offset)
                parts.append(f.read())
            offset = 0
        elif inode != current_inode:
            offset = 0
        if self.path.exists():
            with open(self.path, "rb") as f:
                f.seek(offset)
                parts.append(f.read())
        return b"".join(parts).decode(errors="replace")

    def metrics_since(self, since: tuple[int, int], servers) -> Metrics:
        return parse_haproxy_log(self.read_since(since), servers)
