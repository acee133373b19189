"""What `status` says of a stack's monitoring: each scrape target's health with its newest scrape,
and the alerts firing or pending, from the stack's own Prometheus."""
from __future__ import annotations

from ..plan.monitoring import api_address, runs
from .api import MonitoringUnreachable, Prometheus


def counted(target) -> bool:
    """A canary's target answers only while a rollout runs one: its absence is no fault."""
    return target.track != "canary"


def monitoring_report(plan) -> dict | None:
    """None where the stack runs no monitoring; `unreachable` where its Prometheus does not answer."""
    if not runs(plan):
        return None
    address = api_address(plan, "prometheus")
    prometheus = Prometheus(address)
    try:
        targets, alerts = prometheus.targets(), prometheus.alerts()
    except MonitoringUnreachable as exc:
        return {"prometheus": address, "unreachable": str(exc)}
    return {"prometheus": address, "targets": [t.to_json() for t in targets],
            "alerts": [a.to_json() for a in alerts]}


def monitoring_lines(report: dict | None) -> list[str]:
    if report is None:
        return []
    if "unreachable" in report:
        return [f"monitoring: Prometheus at {report['prometheus']} does not answer ({report['unreachable']})"]
    targets = [t for t in report["targets"] if t.get("track") != "canary"]
    if not targets:
        return [f"monitoring: Prometheus http://{report['prometheus']} is starting: no target scraped yet"]
    down = [t for t in targets if t["health"] != "up"]
    newest = min((t["seconds_ago"] for t in targets), default=float("inf"))
    lines = [f"monitoring: Prometheus http://{report['prometheus']}  {len(targets) - len(down)} of {len(targets)} "
             f"targets up, newest scrape {newest:.1f}s ago"]
    lines += [f"  down:     {t['job']} {t['name']} ({t['health']}: {t['error'] or 'not scraped yet'})" for t in down]
    firing = [a for a in report["alerts"] if a["state"] == "firing"]
    pending = len(report["alerts"]) - len(firing)
    lines.append(f"alerts:     {len(firing)} firing" + (f", {pending} pending" if pending else ""))
    lines += [f"  {a['severity']:<8}  {a['name']}"
              + (" (" + ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items())) + ")" if a["labels"] else "")
              + f": {a['summary']}" for a in firing]
    return lines
