"""Node services: processes, the node-postgres pool, the V8 heap, libuv's pool (plan/node.py)."""
from dataclasses import replace

import pytest

from tunestack.plan import build_plan
from tunestack.plan.node import node_env

from .helpers import spec

MIB = 1024**2


def node_app(**kw):
    return replace(spec("staging").app, framework="node", **kw)


@pytest.mark.parametrize("process_mib,given,flag", [
    # Node.js docs (--max-old-space-size): V8's old space is only part of a process's memory.
    (768, None, "--max-old-space-size=576"), (2048, None, "--max-old-space-size=1536"),
    (2048, 1024, "--max-old-space-size=1024"),
])
def test_heap_from_memory_per_process(process_mib, given, flag):
    app = node_app(node_max_old_space_bytes=given and given * MIB)
    assert node_env(app, 10, process_mib * MIB, 4, 2000, 8)["NODE_OPTIONS"].value == flag


def test_pool_and_timeouts():
    # node-postgres docs: connectionTimeoutMillis 0 waits forever; the plan uses the timeout chain's connect.
    env = node_env(node_app(), 10, 512 * MIB, 4, 2000, 8)
    assert (env["PG_POOL_MAX"].value, env["PG_CONNECTION_TIMEOUT_MILLIS"].value, env["PG_IDLE_TIMEOUT_MILLIS"].value) \
        == (10, 2000, 10_000)


@pytest.mark.parametrize("uses,cores,size", [(False, 8, None), (True, 2, 4), (True, 16, 16)])
def test_libuv_pool_only_where_the_app_uses_it(uses, cores, size):
    # libuv docs: UV_THREADPOOL_SIZE defaults to 4.
    env = node_env(node_app(node_uses_threadpool=uses), 10, 512 * MIB, cores, 2000, 8)
    assert (env["UV_THREADPOOL_SIZE"].value if "UV_THREADPOOL_SIZE" in env else None) == size


def test_one_process_per_core_counted_in_the_budget():
    plan = build_plan(replace(spec("staging"), app=node_app()))
    assert plan.app["workers"].value == plan.web_env["WEB_CONCURRENCY"].value
    assert "one process per core" in plan.app["workers"].reason
    fleet = next(b for b in plan.budgets if b.name.startswith("fleet client connections"))
    assert f"{plan.app['workers'].value} web processes × {plan.web_env['PG_POOL_MAX'].value} pool" in fleet.arithmetic


@pytest.mark.parametrize("framework", ["node", "go"])
def test_the_request_timeout_reaches_the_app(framework):
    """Neither Node's http server (requestTimeout) nor Go's net/http (TimeoutHandler) has the
    stack's request timeout unless the app is told: the plan writes it, in whole seconds."""
    s = spec("staging")
    plan = build_plan(replace(s, app=replace(s.app, framework=framework)))
    assert plan.web_env["REQUEST_TIMEOUT"].value == s.app.request_timeout_ms
    assert plan.web_env["REQUEST_TIMEOUT"].text == str(s.app.request_timeout_ms // 1000)
