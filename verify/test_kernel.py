"""Kernel settings the plan asks for, as the service's network namespace really has them: inside
each container on Docker (every container is its own namespace), the host's own elsewhere."""
import pytest

from verify.conftest import plan_of


def pytest_generate_tests(metafunc):
    if "service" in metafunc.fixturenames:
        metafunc.parametrize("service", list(plan_of(metafunc.config).kernel))


def test_somaxconn_honours_the_listen_backlog(host, plan, record, service):
    # listen(2): a backlog above net.core.somaxconn is silently truncated to it.
    backlog = plan.kernel[service]["listen_backlog"].value
    actual = int(host.file("/proc/sys/net/core/somaxconn").content_string.strip())
    record(f">= {backlog}", actual, actual >= backlog)
