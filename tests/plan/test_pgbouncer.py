"""PgBouncer stage: the connection plan as pgbouncer.ini settings (PgBouncer manual)."""
import pytest

from tunestack.plan import build_plan
from tunestack.plan.connections import plan_connections
from tunestack.plan.pgbouncer import pgbouncer_service, pgbouncer_settings
from tunestack.plan.placement import Spot
from tunestack.plan.setting import seconds
from tunestack.stackfile.spec import PgBouncerSpec

from .helpers import host, spec


def plan_for(version=(1, 18), request_ms=30_000, idle_ms=60_000):
    db = host(8, 32, ("db",))
    bouncer = PgBouncerSpec("transaction", version=version)
    conns = plan_connections(bouncer, db, 200, 10)
    spot = Spot("pgbouncer", db, "127.0.0.1", "127.0.0.1", None)
    return pgbouncer_settings(bouncer, conns, spot, "", seconds(request_ms, ""), idle_ms, lambda k: "default"), conns


@pytest.mark.parametrize("version,tracks", [((1, 18), False), ((1, 20), False), ((1, 21), True), ((1, 24), True)])
def test_prepared_statements_tracked_from_1_21(version, tracks):
    # PgBouncer 1.21 changelog: max_prepared_statements makes protocol-level prepared statements work
    # in transaction mode.
    settings, _ = plan_for(version)
    assert ("max_prepared_statements" in settings) == tracks


@pytest.mark.parametrize("request_ms,idle_ms,wait,idle", [(30_000, 60_000, "30", "60"), (20_000, 15_000, "20", "15")])
def test_timeouts_in_whole_seconds(request_ms, idle_ms, wait, idle):
    # PgBouncer manual: query_wait_timeout and idle_transaction_timeout are seconds (the wait
    # itself comes from the timeout chain, tests/plan/test_timeouts.py).
    settings, _ = plan_for(request_ms=request_ms, idle_ms=idle_ms)
    assert (settings["query_wait_timeout"].text, settings["idle_transaction_timeout"].text) == (wait, idle)


def test_pools_come_from_the_connection_plan():
    """8 physical cores: PostgreSQL wiki ("Number Of Database Connections") 2 × 8 = 16 server
    connections; the reserve is a fifth of the pool (3); max_db_connections caps both (19). 200
    clients + 10 % (220) + 16 + 3 server sockets + 64 spare (PgBouncer manual), rounded up to 1024."""
    settings, conns = plan_for()
    assert settings["default_pool_size"].value == 16
    assert settings["reserve_pool_size"].value == 3
    assert settings["max_db_connections"].value == 19
    assert settings["auth_type"].value == "scram-sha-256"
    assert pgbouncer_service(conns)["LimitNOFILE"].value == 1024


def test_file_descriptor_limit_covers_clients_and_servers():
    # PgBouncer manual (max_client_conn): fds used exceed max_client_conn by the server connections.
    plan = build_plan(spec("prod"))
    need = plan.pgbouncer["max_client_conn"].value + plan.pgbouncer["max_db_connections"].value
    assert plan.pgbouncer_service["LimitNOFILE"].value >= need


@pytest.mark.parametrize("query_wait_ms,text", [(5000, "1"), (3000, "0.6"), (1000, "0.2"), (13_000, "2.6")])
def test_the_reserve_opens_well_before_a_waiting_client_is_dropped(query_wait_ms, text):
    """Issue #26, PgBouncer manual (reserve_pool_timeout, query_wait_timeout): a client unserved for
    reserve_pool_timeout gets a reserve connection; one waiting query_wait_timeout is dropped. The
    default 5 s reserve timeout never opened where the wait is 5 s or less."""
    from tunestack.plan.pgbouncer import reserve_timeout

    reserve = reserve_timeout(seconds(query_wait_ms, ""))
    assert reserve.text == text and reserve.value * 5 <= query_wait_ms


@pytest.mark.parametrize("stack", ["local", "dev", "staging", "prod"])
def test_every_stack_opens_its_reserve_before_it_drops_a_client(stack):
    from tunestack.plan import plan_stack

    p = plan_stack(stack, target="docker" if stack in ("dev", "staging", "prod") else "hosts")
    assert p.pgbouncer["reserve_pool_timeout"].value < p.pgbouncer["query_wait_timeout"].value


@pytest.mark.parametrize("pool,cap", [(16, 8), (4, 2), (3, 1), (1, 1)])
def test_the_jobs_role_is_capped_at_half_the_pool(pool, cap):
    """Issue #26, PgBouncer manual ([users] max_user_connections; pools are per user and database):
    without a cap, job threads with minutes-long statements could hold every server connection."""
    from tunestack.plan.pgbouncer import user_caps

    assert user_caps(pool, "jobs")["jobs"]["max_user_connections"].value == cap
