"""The web timeout chain: connect + PgBouncer queue wait + statement ≤ request timeout ≤ LB timeout."""
from dataclasses import replace

import pytest

from tunestack.errors import BudgetError
from tunestack.plan import build_plan
from tunestack.plan.timeouts import chain_budget, timeout_chain

from .helpers import spec


@pytest.mark.parametrize("request_ms,statement_ms,queue_ms", [
    # libpq docs (connect_timeout): 2 s is the smallest connect timeout it honours.
    (15_000, 7_500, 5_000),    # 15 − 2 − 7.5 = 5.5 s, PgBouncer's whole seconds: 5
    (30_000, 15_000, 13_000),
    (20_000, 10_000, 8_000),
    (5_000, 4_000, 1_000),     # nothing left: 1 s, PgBouncer's smallest wait (0 waits forever)
])
def test_queue_wait_is_what_the_request_has_left(request_ms, statement_ms, queue_ms):
    chain = timeout_chain(request_ms, statement_ms)
    assert (chain.connect_ms, chain.queue_wait_ms) == (2_000, queue_ms)


def test_the_issue_case_no_longer_waits_past_the_request():
    # Before: query_wait_timeout 15 s + statement_timeout 7.5 s behind a 15 s request.
    plan = build_plan(spec("prod"))
    wait = plan.pgbouncer["query_wait_timeout"].value
    statement = plan.postgres_roles["app"]["statement_timeout"].value
    connect = plan.web_env["DB_CONNECT_TIMEOUT"].value
    assert connect + wait + statement <= plan.spec.app.request_timeout_ms <= plan.loadbalancer["timeout_server"].value
    assert all(b.ok for b in plan.budgets if "timeout chain" in b.name)


def test_a_statement_timeout_that_leaves_no_room_breaks_the_budget():
    s = spec("staging")   # 20 s requests
    s = replace(s, postgres=replace(s.postgres, statement_timeout_ms=19_000, lock_timeout_ms=1_000))
    with pytest.raises(BudgetError) as err:
        build_plan(s)
    (v,) = err.value.violations
    assert "timeout chain" in v.name and "statement_timeout 19s" in v.arithmetic and "statement_timeout" in v.fix


def test_the_load_balancer_must_not_cut_the_request_short():
    (_, lb) = chain_budget(timeout_chain(30_000, 15_000), 20_000)
    assert not lb.ok and "30s > HAProxy timeout server 20s" in lb.arithmetic   # broken: ">" (issue #24)
