"""PostgreSQL and host alerts (plan/pgalerts.py): thresholds from the plan. That each one fires and
stays quiet, on the names the real exporters export, is tests/test_alerts_real.py's."""
import pytest

from tunestack.plan import plan_stack
from tunestack.plan.pgalerts import postgres_alerts


def by_name(alerts):
    return {a["alert"]: a for a in alerts}


@pytest.mark.parametrize("max_conn,reserved,expected", [
    (100, 3, "> 77"),     # 80 % of the 97 a non-superuser may take
    (34, 3, "> 24"),
    (20, 5, "> 12"),      # PostgreSQL 16+: reserved_connections counted too
])
def test_connections_alert_at_80_percent_of_what_logins_can_take(max_conn, reserved, expected):
    """PostgreSQL docs (superuser_reserved_connections, reserved_connections): the last slots are
    kept for superusers; ordinary logins fail before max_connections."""
    alert = by_name(postgres_alerts(max_conn, reserved, 200_000_000, 1 << 30, 30_000))["PostgresConnectionsNearMax"]
    assert alert["expr"].endswith(expected)


@pytest.mark.parametrize("longest_ms,threshold", [(300_000, 600), (7_500, 60), (0, 60)])
def test_a_long_transaction_is_twice_the_longest_statement_at_least_a_minute(longest_ms, threshold):
    alert = by_name(postgres_alerts(100, 3, 200_000_000, 1 << 30, longest_ms))["PostgresLongTransaction"]
    assert alert["expr"].endswith(f"> {threshold}")


def test_xid_and_wal_thresholds_follow_the_settings():
    """PostgreSQL docs 25.1.5: anti-wraparound vacuum starts at autovacuum_freeze_max_age; WAL beyond
    max_wal_size is kept only for archiving or slots."""
    alerts = by_name(postgres_alerts(100, 3, 150_000_000, 4 << 30, 0))
    assert alerts["PostgresXidAgeHigh"]["expr"] == "max(pg_database_xid_age) > 300000000"
    assert alerts["PostgresWalPiling"]["expr"] == f"max(pg_wal_bytes) > {8 << 30}"


@pytest.mark.parametrize("stack", ["prod", "local"])
def test_the_plan_alerts_on_its_own_values(stack):
    plan = plan_stack(stack)
    alerts = by_name(plan.alerts)
    reserved = plan.postgres["superuser_reserved_connections"].value \
        + (plan.postgres["reserved_connections"].value if "reserved_connections" in plan.postgres else 0)
    near = int((plan.postgres["max_connections"].value - reserved) * 0.8)
    assert alerts["PostgresConnectionsNearMax"]["expr"].endswith(f"> {near}")
    assert alerts["PostgresWalPiling"]["expr"].endswith(f"> {2 * plan.postgres['max_wal_size'].value}")
    assert {"PostgresDown", "TargetDown", "DiskSpaceLow"} <= set(alerts)
