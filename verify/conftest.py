"""pytest-testinfra suite: runtime values on a stack's hosts, checked against the same plan that
rendered them. Run it through `tunestack verify --stack NAME [--hosts ...]`.

Expectations come from the plan alone (`--stack`, `--pg-version`, `--target`): the suite collects
for any stack, local or remote, without touching a host."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from tunestack.backup.pgbackrest import DEFAULT_CONFIG
from tunestack.choices import PG_VERSIONS, TARGETS
from tunestack.plan import Plan, plan_stack
from tunestack.render import Layout

RESULTS: list[dict] = []


def pytest_addoption(parser):
    parser.addoption("--stack", default="local", help="stack name")
    parser.addoption("--pg-version", type=int, choices=PG_VERSIONS, default=None,
                     help="plan for this PostgreSQL major (default: the stack file's)")
    parser.addoption("--target", choices=TARGETS, default="hosts", help="services as packages or containers")
    parser.addoption("--host-ruby", default=None, help="the host's Ruby, for a rails stack that names none")
    parser.addoption("--secrets-dir", default=Layout().secrets_dir,
                     help="folder with pgpass and redis-<role>-password on the hosts")
    parser.addoption("--control-dir", default=Layout().control_dir,
                     help="folder of Puma's control socket on the hosts")
    parser.addoption("--pgbackrest-config", default=DEFAULT_CONFIG,
                     help="pgBackRest's config file on the db host (the local stack's is in its state folder)")
    parser.addoption("--report", default=None, help="write expected-vs-actual rows here as JSON")
    parser.addoption("--kernel", action="store_true", help="check the host kernel settings (host_kernel)")


@lru_cache(maxsize=None)
def _plan(stack: str, pg_version: int | None, target: str, host_ruby: str | None = None) -> Plan:
    return plan_stack(stack, pg_version=pg_version, target=target, host_ruby=host_ruby)


def plan_of(config) -> Plan:
    """The plan every check compares against, from the command line's stack options."""
    return _plan(config.getoption("--stack"), config.getoption("--pg-version"), config.getoption("--target"),
                 config.getoption("--host-ruby"))


@pytest.fixture(scope="session")
def plan(pytestconfig) -> Plan:
    return plan_of(pytestconfig)


@pytest.fixture(scope="session")
def secrets_dir(pytestconfig) -> str:
    return pytestconfig.getoption("--secrets-dir")


@pytest.fixture(scope="session")
def pgbackrest_config(pytestconfig) -> str:
    return pytestconfig.getoption("--pgbackrest-config")


@pytest.fixture(scope="session")
def control_dir(pytestconfig) -> str:
    return pytestconfig.getoption("--control-dir")


ALL_SERVICES = {"postgres", "pgbouncer", "redis-cache", "redis-queue", "web", "jobs", "haproxy",
                "monitoring"}   # Prometheus and Alertmanager, where tunestack:monitoring runs them


def services_on(host_id: str, plan: Plan) -> set[str]:
    """Which services a testinfra host runs: all on local://, the container's own on docker://,
    and on ssh:// the ones the plan's placement puts on that address (none for a Docker stack:
    there ssh:// carries the machine's own checks, e.g. nothing on a public address)."""
    backend, _, name = host_id.partition("://")
    if backend == "local":
        return set(ALL_SERVICES)
    if backend == "docker":
        name = name.split("@")[-1]   # docker://user@container
        service = name[len(plan.stack) + 1:] if name.startswith(plan.stack + "-") else name
        if service.startswith("app-web"):
            return {"web"}
        if service.startswith("app-jobs"):
            return {"jobs"}
        if service == "monitoring-prometheus":   # the monitoring checks ask its API from inside its container
            return {"monitoring"}
        return {"haproxy"} if service == "lb" else {service}
    if plan.placement.docker:   # the services run in containers: their checks run there (docker://)
        return set()
    address = name.split("@")[-1].split(":")[0]
    out = {s for s, spot in plan.placement.spots.items() if address in (spot.host.address, *spot.host.addresses)}
    if plan.monitoring and address in plan.monitoring["host address"].value:
        out.add("monitoring")
    if any(address in h.addresses for h in plan.spec.app_hosts()):
        out |= {"web", "jobs"}
    return out


def service_of(request) -> str | None:
    """The service a check is about: its `role` or `service` parameter, or its module's SERVICE."""
    params = request.node.callspec.params if hasattr(request.node, "callspec") else {}
    if "role" in params:
        return f"redis-{params['role']}"
    return params.get("service") or getattr(request.module, "SERVICE", None)


@pytest.fixture(autouse=True)
def only_where_the_service_runs(request, plan):
    if "host" not in request.fixturenames:
        return
    host = request.getfixturevalue("host")
    service = service_of(request)
    if service and service not in services_on(host.backend.get_pytest_id(), plan):
        pytest.skip(f"{service} does not run on {host.backend.get_pytest_id()}")


@pytest.fixture
def record(request, host):
    """Record expected vs actual for the report table, then assert equality."""
    def check(expected, actual, ok=None):
        ok = (str(expected) == str(actual)) if ok is None else ok
        RESULTS.append({"host": host.backend.get_pytest_id(), "check": request.node.name,
                        "expected": str(expected), "actual": str(actual), "ok": bool(ok)})
        assert ok, f"expected {expected!r}, got {actual!r}"
    return check


def pytest_sessionfinish(session):
    path = session.config.getoption("--report")
    if path:
        Path(path).write_text(json.dumps(RESULTS, indent=1))
