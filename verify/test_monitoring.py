"""The stack's monitoring (tunestack:monitoring), on the host that runs Prometheus: every target the
plan scrapes is scraped and up, Prometheus evaluates exactly the plan's rules, and Alertmanager is
ready. Prometheus' and Alertmanager's HTTP APIs, asked with curl on that host (they listen on its
loopback or private address only; over HTTPS verified against the stack's CA where they are
reached from other machines: plan/monitoring.serves_https)."""
import json
import time
from shlex import quote

import pytest

from tunestack.plan.monitoring import address_of, api_url, runs, scheme
from tunestack.plan.tls import CA_FILE

SERVICE = "monitoring"
FIRST_SCRAPES_S = 30   # a Prometheus just started scrapes every target within one interval or two


@pytest.fixture
def prometheus(plan):
    if not runs(plan):
        pytest.skip("no tunestack:monitoring section: Prometheus is the team's own")
    return api_url(plan, "prometheus")


def curl(url: str) -> str:
    return f"curl -fsS -m 5 {'--cacert ' + CA_FILE + ' ' if url.startswith('https:') else ''}{quote(url)}"


def api(host, url: str) -> dict:
    return json.loads(host.check_output(curl(url)))


def test_every_planned_target_is_scraped_and_up(host, plan, prometheus, record):
    """The canary's target answers during a rollout only: it is not counted."""
    planned = {(t.kind, t.name) for t in plan.monitoring["targets"].value if dict(t.labels).get("track") != "canary"}
    deadline = time.monotonic() + max(FIRST_SCRAPES_S, 3 * plan.monitoring["scrape_interval"].value / 1000)
    while True:
        targets = api(host, f"{prometheus}/api/v1/targets?state=active")["data"]["activeTargets"]
        seen = {(t["labels"]["job"], t["labels"].get("name")): t for t in targets if t["labels"].get("track") != "canary"}
        scraped = set(seen) >= planned and all(t["health"] != "unknown" for t in seen.values())
        if scraped or time.monotonic() > deadline:
            break
        time.sleep(1)   # bounded by the deadline: a Prometheus just (re)started scrapes on its own schedule
    record(sorted(planned), sorted(seen))
    down = {f"{job} {name}": f"{t['health']}: {t['lastError']}" for (job, name), t in seen.items() if t["health"] != "up"}
    record({}, down)


def test_prometheus_evaluates_the_plans_rules(host, plan, prometheus, record):
    groups = api(host, f"{prometheus}/api/v1/rules?type=alert")["data"]["groups"]
    record(sorted(a["alert"] for a in plan.alerts), sorted(r["name"] for g in groups for r in g["rules"]))


def test_alertmanager_is_ready_where_prometheus_sends_alerts(host, plan, prometheus, record):
    """Asked at the address Prometheus' configuration names (from its host or container), and
    Prometheus itself lists it among its active Alertmanagers."""
    address = f"{scheme(plan)}://{address_of(plan, 'alertmanager')}"
    out = host.run(curl(f"{address}/-/ready"))
    record(0, out.rc)
    deadline = time.monotonic() + FIRST_SCRAPES_S
    while True:   # a Prometheus just (re)loaded finds its Alertmanagers again within seconds
        active = api(host, f"{prometheus}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
        if active or time.monotonic() > deadline:
            break
        time.sleep(1)   # bounded by the deadline
    record([f"{address}/api/v2/alerts"], [a["url"] for a in active])
