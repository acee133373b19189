"""PostgreSQL with standbys (plan/ha.py, issue #28): Patroni's nodes and dynamic configuration, etcd's
members, the standby settings, the memory they take, and the alerts."""
from dataclasses import replace

from tunestack.plan import build_plan
from tunestack.plan.ha import DCS_PARAMETERS, ETCD_MEMORY, PATRONI_MEMORY, etcd_members, pg_nodes
from tunestack.stackfile.spec import HaSpec

from .helpers import spec


def with_ha(s, **kw):
    return replace(s, ha=HaSpec(**kw))


def staging_ha(replicas=2, **kw):
    s = spec("staging")
    db = replace(s.hosts[0], count=replicas + 1, addresses=tuple(f"10.20.1.{10 + i}" for i in range(replicas + 1)))
    return replace(with_ha(s, replicas=replicas, **kw), hosts=(db,) + s.hosts[1:])


def test_a_stack_without_replicas_has_no_patroni():
    plan = build_plan(spec("local"))
    assert plan.ha == {} and "hot_standby_feedback" not in plan.postgres
    assert not [a for a in plan.alerts if a["alert"].startswith(("Etcd", "PostgresNoPrimary"))]


def test_local_ha_runs_its_nodes_on_ports_of_their_own_and_one_etcd_member():
    plan = build_plan(spec("local-ha"))
    nodes, members = plan.ha["nodes"].value, plan.ha["etcd members"].value
    assert [(n.port, n.rest_port) for n in nodes] == [(15833, 18808), (15834, 18809)]
    assert [(m.client_port, m.peer_port) for m in members] == [(12379, 12380)]
    assert plan.postgres["port"].value == 15832   # the load balancer's primary service: what clients use


def test_each_node_gets_its_own_machine_and_etcd_takes_three_distinct_ones():
    s = staging_ha(replicas=2)
    nodes, members = pg_nodes(s), etcd_members(s)
    assert [n.address for n in nodes] == ["10.20.1.10", "10.20.1.11", "10.20.1.12"]
    assert {n.port for n in nodes} == {s.postgres.port}
    assert len({(m.host, m.machine) for m in members}) == 3


def test_named_etcd_hosts_take_a_counted_hosts_next_machine():
    s = staging_ha(replicas=2, etcd_hosts=("db", "db", "cache"))
    assert [(m.host, m.machine) for m in etcd_members(s)] == [("db", 0), ("db", 1), ("cache", 0)]


def test_rpo_0_is_synchronous_and_promotes_only_the_synchronous_standby():
    ha = build_plan(spec("local-ha")).ha
    assert ha["synchronous_mode"].value is True and ha["maximum_lag_on_failover"].value == 0
    assert "round trip" in ha["synchronous_mode"].reason   # the cost is stated


def test_an_rpo_in_bytes_bounds_a_candidates_lag_asynchronously():
    plan = build_plan(staging_ha(replicas=1, rpo_bytes=1024 * 1024))
    assert plan.ha["synchronous_mode"].value is False
    assert plan.ha["maximum_lag_on_failover"].value == 1024 * 1024
    assert "PostgresNoSynchronousStandby" not in {a["alert"] for a in plan.alerts}


def test_rto_becomes_patronis_timings_with_the_false_failover_risk_in_the_reason():
    ha = build_plan(spec("local-ha")).ha
    assert (ha["ttl"].value, ha["loop_wait"].value, ha["retry_timeout"].value) == (21, 3, 9)
    assert "false ones" in ha["ttl"].reason and "never demotes" in ha["retry_timeout"].reason
    assert ha["worst-case rto"].value <= ha["rto"].value


def test_standbys_get_replication_settings_patroni_keeps_equal_everywhere():
    plan = build_plan(staging_ha(replicas=2))
    assert plan.postgres["max_wal_senders"].value == 3 + 4 and plan.postgres["wal_log_hints"].value == "on"
    assert plan.postgres["hot_standby_feedback"].value == "on"
    assert {"max_connections", "max_wal_senders", "max_replication_slots", "wal_log_hints"} <= set(DCS_PARAMETERS)


def test_nodes_sharing_a_machine_split_postgres_memory_and_count_in_its_budget():
    one, two = build_plan(spec("local")), build_plan(spec("local-ha"))
    assert two.postgres["shared_buffers"].value < one.postgres["shared_buffers"].value
    (budget,) = [b for b in two.budgets if b.name == "memory on local"]
    items = dict(next(h for h in two.hosts if h.name == "local").memory_items)
    assert items["etcd member"] == ETCD_MEMORY and items["Patroni"] == PATRONI_MEMORY
    assert any(k.startswith("PostgreSQL node 2 worst case") for k in items)
    assert budget.ok and "etcd member" in budget.arithmetic


def test_alerts_read_patronis_and_etcds_own_metrics():
    alerts = {a["alert"]: a for a in build_plan(spec("local-ha")).alerts}
    assert 'patroni_sync_standby{scope="local-ha-pg"}' in alerts["PostgresNoSynchronousStandby"]["expr"]
    assert "patroni_postgres_timeline" in alerts["PostgresFailoverHappened"]["expr"]
    assert "etcd_server_has_leader" in alerts["EtcdMemberDown"]["expr"]
    assert "patroni_xlog_replayed_location" in alerts["PostgresReplicaLagging"]["expr"]


def test_max_connections_is_at_least_what_patroni_accepts():
    """Patroni (postgresql/config.py CMDLINE_OPTIONS) runs max_connections 100 when its dynamic
    configuration asks for fewer than 25; the one-host trial plans 20 without standbys."""
    assert build_plan(spec("local")).postgres["max_connections"].value == 20
    planned = build_plan(spec("local-ha")).postgres["max_connections"]
    assert planned.value == 25 and "Patroni's minimum" in planned.reason


def test_apps_get_a_replica_url_to_pgbouncers_read_only_database():
    plan = build_plan(spec("local-ha"))
    assert plan.web_env["DATABASE_REPLICA_URL"].value == "postgres://app@127.0.0.1:16832/app_replica"
    assert plan.jobs_env["DATABASE_REPLICA_URL"].value.startswith("postgres://jobs@")
    assert plan.ha["replica port"].value == 15835   # above the primary service (15832) and both nodes
    assert "DATABASE_REPLICA_URL" not in build_plan(spec("local")).web_env


def test_containers_with_standbys_put_pgbouncer_beside_the_proxy_and_count_it_there():
    """Docker with standbys: PgBouncer leaves the db machines (losing one, the primary's included,
    must not take the pooler with it) and is budgeted on the cache host, where the proxy to the
    primary runs; the db host's memory holds no PgBouncer any more."""
    plan = build_plan(staging_ha(replicas=1), target="docker")
    assert plan.placement["pgbouncer"].host.name == "cache"
    assert plan.placement["postgres"].reach == "staging-postgres"   # the proxy's alias, on the cache host
    items = {h.name: [label for label, _ in h.memory_items] for h in plan.hosts}
    assert "PgBouncer" in items["cache"] and "PgBouncer" not in items["db"]
    assert plan.container("cache", "pgbouncer") and not plan.container("db", "pgbouncer")
    assert build_plan(staging_ha(replicas=1), target="hosts").placement["pgbouncer"].host.name == "db"


def test_each_node_container_holds_patroni_and_each_etcd_member_machine_has_a_container():
    s = staging_ha(replicas=1)
    bare = build_plan(replace(s, ha=HaSpec()), target="docker")
    plan = build_plan(s, target="docker")
    assert plan.container("db", "postgres").memory_bytes >= PATRONI_MEMORY
    hosts_with_members = {m.host for m in etcd_members(s)}
    for host in ("db", "cache"):
        assert (plan.container(host, "etcd") is not None) == (host in hosts_with_members)
        assert plan.container(host, "etcd") is None or plan.container(host, "etcd").memory_bytes == ETCD_MEMORY
    assert bare.container("db", "etcd") is None


def test_the_postgres_certificate_names_every_node_address():
    """PgBouncer verifies PostgreSQL's name through the proxy (verify-full), and the standbys and
    tests reach each node on its machine's address: one certificate carries all of them."""
    plan = build_plan(staging_ha(replicas=2), target="docker")
    tls = plan.tls["postgres"]
    assert set(tls.ip_addresses) >= {"10.20.1.10", "10.20.1.11", "10.20.1.12"}
    assert "staging-postgres" in tls.dns_names


def test_containers_on_one_machine_cannot_have_standbys():
    import pytest

    from tunestack.errors import StackError

    s = with_ha(spec("dev"), replicas=1)
    with pytest.raises(StackError) as err:
        build_plan(s, target="docker")
    assert "one machine" in str(err.value) and "local-ha" in str(err.value)


def test_etcd_and_patronis_api_cross_machines_over_tls_with_a_certificate_for_every_member():
    """etcd docs, "Transport security model": members on several machines serve clients and peers
    over TLS; the one certificate is also each member's client identity to its peers."""
    plan = build_plan(staging_ha(replicas=2), target="docker")
    members = plan.ha["etcd members"].value
    assert all(m.tls and m.client_url.startswith("https://") and m.peer_url.startswith("https://") for m in members)
    assert all(n.tls and n.api_url.startswith("https://") for n in plan.ha["nodes"].value)
    etcd = plan.tls["etcd"]
    assert set(etcd.ip_addresses) == {"127.0.0.1", *(m.address for m in members)}
    assert etcd.client, "peers verify each other's client certificates"


def test_the_local_cluster_on_one_machine_stays_plain_http():
    plan = build_plan(spec("local-ha"), target="hosts")
    assert "etcd" not in plan.tls and "tls" not in plan.ha
    assert all(not m.tls for m in plan.ha["etcd members"].value)
