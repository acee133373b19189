"""Job workers survive their backends (issue #23), for the Python reference app: `kill -9` of
PgBouncer and of the queue Redis under load loses no job, and the queue drains within a bound.
The same drill runs for Go and Node (tests/test_local_go_node.py) and Rails (tests/test_local_rails.py)."""
from __future__ import annotations

import pytest

from tests.jobfaults import drill
from tunestack.throwaway import ThrowawayStack

pytestmark = pytest.mark.servers
BASE = 17432   # its own ports: 17432-17437, the canary 17532


@pytest.fixture(scope="module")
def stack():
    with ThrowawayStack("faults", BASE, say=lambda m: None) as s:
        yield s


@pytest.mark.parametrize("service", ["pgbouncer", "redis-queue"])
def test_no_job_is_lost_when_a_backend_is_killed(stack, service):
    result = drill(stack, service)
    print(result)
    assert result["restarted"] and result["served"] > 50, result
    assert result["lost"] == 0 and result["drained"], result
    assert result["jobs_state"] == "RUNNING", "the worker recovered by itself"
