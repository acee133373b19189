"""What `status` says of a stack's monitoring: each scrape target's health with its newest scrape,
and the alerts firing or pending, from the stack's own Prometheus."""
from __future__ import annotations

from ..plan.monitoring import api_url, runs
from .api import MonitoringUnreachable, Prometheus


def counted(target) -> bool:
    """A canary's target answers only while a rollout runs one: its absence is no fault."""
    return target.track != "canary"


def monitoring_report(plan, ca_pem: str | None = None) -> dict | None:
    """None where the stack runs no monitoring; `unreachable` where its Prometheus does not answer.
    `ca_pem`: the stack's CA, where Prometheus answers HTTPS (plan/monitoring.serves_https)."""
    if not runs(plan):
        return None
    address = api_url(plan, "prometheus")
    prometheus = Prometheus(address, ca_pem)
    try:
        targets, alerts = prometheus.targets(), prometheus.alerts()
    except MonitoringUnreachable as exc:
        return {"prometheus": address, "unreachable": str(exc)}
    return {"prometheus": address, "targets": [t.to_json() for t in targets],
            "alerts": [a.to_json() for a in alerts]}


def stack_ca(plan, url_of) -> str | None:
    """The stack's CA, read out of Prometheus' own container through its machine's engine (the
    engine's archive API, over the operator's SSH): what its HTTPS is verified against. None where
    Prometheus serves plain HTTP, or its container cannot be read."""
    import docker

    from ..dockerengine import engine_client, read_file
    from ..plan.monitoring import monitoring_host, monitoring_name, serves_https
    from ..plan.tls import CA_FILE

    if not serves_https(plan):
        return None
    try:
        container = engine_client(url_of(monitoring_host(plan.spec).name, 0)).containers.get(
            monitoring_name(plan.stack, "prometheus"))
        return read_file(container, CA_FILE).decode()
    except (docker.errors.DockerException, OSError, KeyError):
        return None


def monitoring_lines(report: dict | None) -> list[str]:
    if report is None:
        return []
    if "unreachable" in report:
        return [f"monitoring: Prometheus at {report['prometheus']} does not answer ({report['unreachable']})"]
    targets = [t for t in report["targets"] if t.get("track") != "canary"]
    if not targets:
        return [f"monitoring: Prometheus {report['prometheus']} is starting: no target scraped yet"]
    down = [t for t in targets if t["health"] != "up"]
    newest = min((t["seconds_ago"] for t in targets), default=float("inf"))
    lines = [f"monitoring: Prometheus {report['prometheus']}  {len(targets) - len(down)} of {len(targets)} "
             f"targets up, newest scrape {newest:.1f}s ago"]
    lines += [f"  down:     {t['job']} {t['name']} ({t['health']}: {t['error'] or 'not scraped yet'})" for t in down]
    firing = [a for a in report["alerts"] if a["state"] == "firing"]
    pending = len(report["alerts"]) - len(firing)
    lines.append(f"alerts:     {len(firing)} firing" + (f", {pending} pending" if pending else ""))
    lines += [f"  {a['severity']:<8}  {a['name']}"
              + (" (" + ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items())) + ")" if a["labels"] else "")
              + f": {a['summary']}" for a in firing]
    return lines
