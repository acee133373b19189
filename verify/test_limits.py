"""Each server's open-file limit as its running process has it (/proc/<pid>/limits): the systemd
drop-in, the container's ulimit, or supervisord's minfds, whichever started it."""
import pytest

from verify.conftest import plan_of
from verify.helpers import listener_pids


def pytest_generate_tests(metafunc):
    if "service" in metafunc.fixturenames:
        metafunc.parametrize("service", list(plan_of(metafunc.config).service_limits))


def port_of(plan, service):
    spec = plan.spec
    return {"postgres": spec.postgres.port, "pgbouncer": spec.pgbouncer.port, "redis-cache": spec.redis_cache.port,
            "redis-queue": spec.redis_queue.port, "haproxy": plan.loadbalancer["port"].value}[service]


def test_open_file_limit(host, plan, record, service):
    pids = listener_pids(host, port_of(plan, service))
    if not pids:
        pytest.skip(f"{service} listens on no port here")
    limits = host.file(f"/proc/{min(pids)}/limits").content_string
    soft = next(int(line.split()[3]) for line in limits.splitlines() if line.startswith("Max open files"))
    need = plan.service_limits[service]["LimitNOFILE"].value
    record(f">= {need}", soft, soft >= need)
