"""tunestack:monitoring: how long Prometheus keeps samples, on what disk, where alerts go, and any
scrape targets beyond the stack's own. Refused here: a receiver URL that is not http(s), a scrape
target that is not address:port on a private or loopback address (Prometheus would pull from the
internet, and a target there is no server of this stack), an interval outside 1s..5m. A retention
too large for the disk is the planner's (plan/monitoring.py): it needs the series count."""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ..checker import Checker
from ..schema import NS
from ..spec import MonitoringSpec

KEY = f"{NS}:monitoring"


def monitoring(ck: Checker) -> MonitoringSpec:
    c = ck.config.get(KEY)
    if c is None:
        return MonitoringSpec()
    out: dict = {}
    retention = ck.duration([KEY, "retention"], c.get("retention"))
    if retention is not None:
        if retention < 2 * 3_600_000:
            ck.problem([KEY, "retention"], c["retention"], "at least 2h: Prometheus keeps two hours in memory before "
                       "it writes a block, so less keeps nothing on disk", "write e.g. 15d")
        out["retention_ms"] = retention
    interval = ck.duration([KEY, "scrape_interval"], c.get("scrape_interval"))
    if interval is not None:
        if not 1_000 <= interval <= 300_000:
            ck.problem([KEY, "scrape_interval"], c["scrape_interval"], "from 1s to 5m: beyond 5m Prometheus marks "
                       "a series stale between two scrapes", "write e.g. 15s")
        out["scrape_interval_ms"] = interval
    if "disk" in c:
        out["disk_bytes"] = ck.size([KEY, "disk"], c["disk"])
    if "receiver" in c:
        receiver_problem(ck, c["receiver"])
        out["receiver"] = c["receiver"]
    for i, target in enumerate(c.get("targets", [])):
        target_problem(ck, i, target)
    out["targets"] = tuple(c.get("targets", []))
    given = c.get("ports") or {}
    out["ports"] = tuple((name, given.get(name, port)) for name, port in MonitoringSpec.ports)
    return MonitoringSpec(enabled=True, **out)


def receiver_problem(ck: Checker, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        ck.problem([KEY, "receiver"], url, "an http:// or https:// URL with a host (Alertmanager's webhook "
                   "receiver posts JSON to it)", "write e.g. https://alerts.internal.example/hook")
    elif parts.username or parts.password:
        ck.problem([KEY, "receiver"], "(a URL with credentials)", "a URL without a user or password in it: "
                   "the rendered alertmanager.yml would hold them", "give the receiver a token header instead")


def target_problem(ck: Checker, index: int, target: str) -> None:
    host, _, port = target.rpartition(":")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is None or not port.isdigit() or not 0 < int(port) < 65536:
        ck.problem([KEY, "targets", index], target, "address:port with an IP address (Prometheus scrapes it "
                   "as written)", "write e.g. 10.0.0.7:9100")
    elif not (address.is_private or address.is_loopback) or address.is_link_local or address.is_unspecified:
        ck.problem([KEY, "targets", index], target, "a private or loopback address: a public one is no server of "
                   "this stack, and its metrics would cross the internet unencrypted",
                   "scrape it through its private address, or leave it out")
