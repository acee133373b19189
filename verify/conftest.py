"""pytest-testinfra suite: runtime values on a stack's hosts, checked against the same plan that
rendered them. Run it through `python -m tunestack verify --stack NAME [--hosts ...]`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tunestack.local import LocalStack, installed_pg_major  # noqa: E402
from tunestack.planner import plan_stack  # noqa: E402

RESULTS: list[dict] = []


def pytest_addoption(parser):
    parser.addoption("--stack", default="local", help="stack name")
    parser.addoption("--secrets-dir", default=None,
                     help="folder with pgpass and redis-password on the hosts (default: the local stack's)")
    parser.addoption("--report", default=None, help="write expected-vs-actual rows here as JSON")


@pytest.fixture(scope="session")
def stack_name(pytestconfig) -> str:
    return pytestconfig.getoption("--stack")


@pytest.fixture(scope="session")
def plan(stack_name):
    local = LocalStack(stack_name)
    try:
        plan = local.plan()  # local hosts: planned for the installed PostgreSQL major
    except Exception:
        plan = plan_stack(stack_name, target="hosts", pg_version=installed_pg_major())
    return plan


@pytest.fixture(scope="session")
def secrets_dir(pytestconfig, stack_name) -> str:
    return pytestconfig.getoption("--secrets-dir") or str(LocalStack(stack_name).secrets_dir)


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
