"""Kernel stage: listen backlogs and the somaxconn that honours them."""
import pytest

from tunestack.plan.kernel import kernel_settings, listen_backlogs, pgbouncer_backlog, somaxconn


@pytest.mark.parametrize("clients,backlog", [(50, 4096), (4096, 4096), (4097, 8192), (10_000, 16384),
                                            (100_000, 65535)])
def test_pgbouncer_backlog_seats_every_client_reconnecting_at_once(clients, backlog):
    # PgBouncer manual (listen_backlog): default 128, read only at start, so it moves in steps;
    # Linux caps any backlog at somaxconn, at most 65535.
    assert pgbouncer_backlog(clients).value == backlog


@pytest.mark.parametrize("backlog,value", [(511, 4096), (4096, 4096), (6000, 6000), (70_000, 65535)])
def test_somaxconn_is_at_least_the_backlog_and_never_below_linux_default(backlog, value):
    # listen(2): a backlog above net.core.somaxconn is silently truncated; Linux ≥ 5.4 defaults to 4096.
    assert somaxconn(backlog, "test").value == value


def test_backlogs_follow_each_server_default_or_plan():
    # PostgreSQL listens with 2 × MaxConnections (pqcomm.c); Redis' tcp-backlog default is 511
    # (redis.conf); HAProxy's backlog defaults to the frontend maxconn (HAProxy docs, backlog);
    # Puma's binder uses 1024, Gunicorn's docs say 2048.
    rails = listen_backlogs(max_connections=300, pgbouncer_backlog_value=2000, lb_maxconn=512, framework="rails")
    assert {k: v for k, (v, _) in rails.items()} == {
        "postgres": 600, "pgbouncer": 2000, "redis-cache": 511, "redis-queue": 511, "haproxy": 512, "web": 1024}
    python = listen_backlogs(300, 2000, 512, "python")
    assert python["web"][0] == 2048


def test_every_service_gets_its_own_setting_with_the_backlog_it_serves():
    settings = kernel_settings(listen_backlogs(3000, 4096, 256, "python"))
    assert settings["postgres"]["net.core.somaxconn"].value == 6000
    assert settings["postgres"]["listen_backlog"].value == 6000
    assert settings["web"]["net.core.somaxconn"].value == 4096
