"""Budgets: used ≤ limit with the arithmetic spelled out."""
from dataclasses import replace

import pytest

from tunestack.errors import BudgetError
from tunestack.plan import build_plan
from tunestack.plan.budgets import memory_budget, server_budget, tracing_budget
from tunestack.plan.connections import plan_connections
from tunestack.stackfile.spec import PgBouncerSpec

from .helpers import GIB, host, spec


@pytest.mark.parametrize("max_connections,reserved,ok", [
    # PostgreSQL docs: superuser_reserved_connections and reserved_connections slots are not for
    # ordinary roles, so PgBouncer's pools and admin sessions must fit below them.
    (32, 0, True), (31, 0, False), (40, 8, True), (40, 9, False),
])
def test_server_pools_fit_below_the_reserved_slots(max_connections, reserved, ok):
    conns = plan_connections(PgBouncerSpec("transaction"), host(8, 32, ("db",)), 200, 10)   # 16 + 3 + 10 = 29
    assert server_budget(conns, 10, max_connections, reserved).ok is ok


@pytest.mark.parametrize("expected,budget,flagged", [(100.0, 100, False), (100.005, 100, False), (101, 100, True)])
def test_tracing_budget_flags_only_overspending_rules(expected, budget, flagged):
    assert (tracing_budget(expected, budget, "transactions") is not None) == flagged


def test_memory_budget_spells_out_every_item():
    b = memory_budget("db", [("OS reserve", GIB), ("PostgreSQL", 6 * GIB)], 8 * GIB)
    assert b.ok and b.headroom == GIB
    assert b.arithmetic == "OS reserve 1 GiB + PostgreSQL 6 GiB = 7 GiB ≤ 8 GiB"


def test_max_connections_override_too_low_breaks_the_budget():
    s = spec("staging")
    s = replace(s, postgres=replace(s.postgres, overrides={"max_connections": "20"}))
    with pytest.raises(BudgetError) as err:
        build_plan(s)
    text = str(err.value)
    assert "server pools ≤ max_connections − reserved" in text and "> max_connections 20" in text
    assert "fix:" in text


def test_a_broken_budget_reads_right():
    """Issue #24: `1056 ≤ max_client_conn 800` under a broken budget said the opposite of the truth;
    the arithmetic shows `>` once the budget is broken, `≤` while it holds."""
    from tunestack.plan.budgets import memory_budget

    broken = memory_budget("db", [("postgres", 3 * 2**30), ("redis", 2**30)], 2 * 2**30)
    assert not broken.ok and broken.arithmetic.endswith("= 4 GiB > 2 GiB")
    held = memory_budget("db", [("postgres", 2**30)], 2 * 2**30)
    assert held.ok and held.arithmetic.endswith("= 1 GiB ≤ 2 GiB")
