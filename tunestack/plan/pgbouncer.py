"""PgBouncer's settings from the connection plan. Pure."""
from __future__ import annotations

from ..choices import PGBOUNCER_SERVER_LIFETIME_MS
from ..postgres.operations import KEEPALIVE_COUNT, KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S
from ..stackfile.spec import PgBouncerSpec
from .connections import Connections
from .kernel import pgbouncer_backlog
from .placement import Spot
from .setting import Setting, chosen, policy, seconds

PREPARED_STATEMENTS_FROM = (1, 21)   # PgBouncer 1.21 tracks protocol-level prepared statements


def pgbouncer_settings(bouncer: PgBouncerSpec, conns: Connections, spot: Spot, listen_why: str,
                       query_wait: Setting, idle_in_transaction_ms: int, source_of,
                       docker: bool = False) -> dict[str, Setting]:
    settings = {
        "listen_addr": policy(spot.listen, listen_why),
        "listen_port": chosen(bouncer.port, "pgbouncer.port", source_of, "PgBouncer's own port"),
        "auth_type": policy("scram-sha-256", "passwords never cross the wire"),
        "pool_mode": Setting(bouncer.pool_mode, "stack file", "stack file"),
        "default_pool_size": conns.pool,
        "reserve_pool_size": Setting(conns.reserve, "a fifth of the pool for bursts (at least 1)"),
        "reserve_pool_timeout": reserve_timeout(query_wait),
        "max_db_connections": Setting(conns.server, "pool + reserve: the hard cap on server connections"),
        "max_client_conn": conns.max_client_conn,
        "listen_backlog": pgbouncer_backlog(conns.max_client_conn.value),
        "server_idle_timeout": seconds(600_000, "PgBouncer default: close server connections idle 10 min", "policy"),
        "server_lifetime": seconds(PGBOUNCER_SERVER_LIFETIME_MS, "PgBouncer default: recycle server connections hourly",
                                   "policy"),
        "query_wait_timeout": query_wait,
        "idle_transaction_timeout": seconds(idle_in_transaction_ms,
                                            "aligned with idle_in_transaction_session_timeout"),
        # Same dead-peer detection as PostgreSQL's tcp_keepalives_* (postgres/operations.py).
        "tcp_keepidle": policy(KEEPALIVE_IDLE_S, "a vanished client or server is noticed within 2 min, not Linux's 2 h"),
        "tcp_keepintvl": policy(KEEPALIVE_INTERVAL_S, "probe every 10 s once idle"),
        "tcp_keepcnt": policy(KEEPALIVE_COUNT, "6 lost probes: the peer is gone"),
        "ignore_startup_parameters": policy("extra_float_digits", "sent by common drivers; harmless"),
        # PgBouncer manual: server_login_retry defaults to 15 s; after a PostgreSQL restart every
        # client would wait that long. One second keeps a restart a pause, not an outage.
        "server_login_retry": seconds(1000, "retry a failed server login after 1 s, not 15: a PostgreSQL "
                                            "restart costs clients a second", "policy"),
        "unix_socket_dir": policy("", "no Unix socket: clients come over TCP with SCRAM (a socket in /tmp "
                                      "is open to every local user)"),
    }
    if docker:
        # PgBouncer manual: dns_max_ttl (default 15 s) is how long a resolved address is trusted. A
        # replaced PostgreSQL container answers at a new address under the same name.
        settings["dns_max_ttl"] = seconds(1000, "a replaced PostgreSQL container has a new address under the "
                                                "same name: trust a lookup for 1 s, not 15", "policy")
    if bouncer.version >= PREPARED_STATEMENTS_FROM:
        settings["max_prepared_statements"] = policy(200, "PgBouncer ≥ 1.21 tracks protocol-level prepared statements")
    return settings


RESERVE_SHARE = 5   # the reserve opens after a fifth of query_wait_timeout


def reserve_timeout(query_wait: Setting) -> Setting:
    """PgBouncer manual: a client not served within reserve_pool_timeout gets a reserve connection;
    one waiting query_wait_timeout is dropped. PgBouncer's default 5 s reserve timeout never opened
    the reserve where query_wait_timeout is 5 s or less: it opens after a fifth of the wait, while
    the waiting clients still have most of theirs (PgBouncer takes fractions of a second)."""
    ms = max(100, query_wait.value // RESERVE_SHARE // 100 * 100)
    return Setting(ms, f"a fifth of query_wait_timeout ({query_wait.text} s): the reserve opens while waiting "
                       "clients still have most of their wait (PgBouncer manual, reserve_pool_timeout)",
                   text=f"{ms / 1000:g}", unit="ms",
                   rule="a fifth of query_wait_timeout: the reserve opens while waiting clients still have most "
                        "of their wait (PgBouncer manual, reserve_pool_timeout)")


def user_caps(pool: int, jobs_role: str) -> dict[str, dict[str, Setting]]:
    """[users] of pgbouncer.ini. Pools are per user and database (PgBouncer manual), so the job
    processes (threads with minutes-long statements) could hold as many server connections as the
    web: max_user_connections caps them at half the pool, and the web keeps the rest and the reserve."""
    cap = max(1, pool // 2)
    return {jobs_role: {"max_user_connections": Setting(
        cap, f"half the {pool}-connection server pool: long job statements never take the web's seats "
             "(PgBouncer pools are per user)",
        rule="half the server pool, at least 1: long job statements never take the web's seats (PgBouncer "
             "pools are per user)")}}


def pgbouncer_service(conns: Connections) -> dict[str, Setting]:
    """The systemd drop-in (or container ulimit) PgBouncer runs with."""
    return {"LimitNOFILE": conns.nofile}
