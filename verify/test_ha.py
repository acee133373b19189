"""PostgreSQL with standbys (postgres.replicas): Patroni's view (one leader, every node running on
the planned timings), with rpo 0 a synchronous standby the primary really waits for, each standby
streaming within the lag the plan allows, the load balancer's primary service on the leader, and
etcd healthy. Skipped where the plan has no standbys."""
import json

import pytest

from verify.conftest import plan_of
from verify.helpers import psql, quote

LAG_SLACK = 16 * 1024 * 1024   # bytes a healthy standby may trail by between two reads


def pytest_generate_tests(metafunc):
    if "node" in metafunc.fixturenames:
        plan = plan_of(metafunc.config)
        nodes = plan.ha["nodes"].value if plan.ha else []
        metafunc.parametrize("node", nodes, ids=[n.name for n in nodes])


@pytest.fixture
def ha(plan):
    if not plan.ha:
        pytest.skip("one PostgreSQL: postgres.replicas is 0")
    return plan.ha


def rest(host, node, path: str) -> dict:
    return json.loads(host.check_output(f"curl -fsS -m 5 {quote(f'http://{node.address}:{node.rest_port}{path}')}"))


def members(host, ha) -> list[dict]:
    return rest(host, ha["nodes"].value[0], "/cluster")["members"]


def test_one_leader_and_every_node_running(host, ha, record):
    seen = {m["name"]: (m["role"], m["state"]) for m in members(host, ha)}
    leaders = [n for n, (role, _) in seen.items() if role == "leader"]
    planned = {n.name for n in ha["nodes"].value}
    record(f"1 leader, all of {sorted(planned)} running", seen,
           len(leaders) == 1 and set(seen) == planned and all(s in ("running", "streaming") for _, s in seen.values()))


def test_patroni_runs_the_planned_timings(host, ha, record):
    config = rest(host, ha["nodes"].value[0], "/config")
    keys = ("ttl", "loop_wait", "retry_timeout", "primary_start_timeout", "maximum_lag_on_failover", "synchronous_mode")
    planned = {k: ha[k].value for k in keys}
    record(planned, {k: config.get(k) for k in keys}, all(config.get(k) == v for k, v in planned.items()))


def test_a_synchronous_standby_when_rpo_is_0(host, plan, ha, secrets_dir, record):
    if not ha["synchronous_mode"].value:
        pytest.skip("rpo above 0: asynchronous replication")
    port = plan.postgres["port"].value   # the primary service
    rows = psql(host, secrets_dir, port, "SELECT application_name || ':' || sync_state FROM pg_stat_replication").split()
    names = psql(host, secrets_dir, port, "SELECT current_setting('synchronous_standby_names')").strip()
    sync = [r.split(":")[0] for r in rows if r.endswith(":sync")]
    record("a standby in sync_state 'sync', named in synchronous_standby_names", f"{rows}; {names}",
           bool(sync) and sync[0] in names)


def test_standby_streams_within_the_allowed_lag(host, node, ha, record):
    me = next(m for m in members(host, ha) if m["name"] == node.name)
    if me["role"] == "leader":
        pytest.skip(f"{node.name} is the primary now")
    allowed = (ha["maximum_lag_on_failover"].value or 0) + LAG_SLACK
    lag = me.get("lag", "unknown")
    record(f"streaming, lag ≤ {allowed} bytes", f"{me['state']}, lag {lag}",
           me["state"] in ("running", "streaming") and isinstance(lag, int) and lag <= allowed)


def test_the_primary_service_reaches_the_leader(host, plan, ha, secrets_dir, record):
    leader = next(m for m in members(host, ha) if m["role"] == "leader")
    port = psql(host, secrets_dir, plan.postgres["port"].value, "SELECT inet_server_port()").strip()
    record(f"{leader['name']} ({leader['port']})", port, port == str(leader["port"]))


def test_etcd_is_healthy(host, ha, record):
    unhealthy = []
    for m in ha["etcd members"].value:
        out = host.run(f"curl -fsS -m 5 {quote(m.client_url + '/health')}")
        if out.rc or json.loads(out.stdout or "{}").get("health") != "true":
            unhealthy.append(m.name)
    record("every member healthy", unhealthy or "all healthy", not unhealthy)


def test_etcd_refuses_a_client_without_credentials(host, ha, record):
    """etcd's authentication is on (tunestack/etcdauth.py): anyone on the host could otherwise
    rewrite Patroni's leader key and pick the primary."""
    import base64

    key = base64.b64encode(f"/service/{ha['scope'].value}/leader".encode()).decode()
    member = ha["etcd members"].value[0]
    out = host.run(f"curl -sS -m 5 -X POST -d {quote(json.dumps({'key': key}))} "
                   f"{quote(member.client_url + '/v3/kv/range')}").stdout
    error = json.loads(out or "{}").get("error", "")
    record("refused: user name is empty", error or out[:120], "user name is empty" in error)


def test_reads_through_the_replica_url_land_on_a_standby(host, plan, ha, secrets_dir, record):
    """DATABASE_REPLICA_URL: PgBouncer's app_replica, the load balancer's read-only service, a
    standby within the lag bound (the primary only when none is fit)."""
    fit = [m for m in members(host, ha) if m["role"] != "leader" and m["state"] in ("running", "streaming")
           and isinstance(m.get("lag"), int) and m["lag"] <= ha["replica lag at most"].value]
    answer = psql(host, secrets_dir, plan.pgbouncer["listen_port"].value, "SELECT pg_is_in_recovery()",
                  db="app_replica", user="app").strip()
    expected = "t" if fit else "f"
    record(f"pg_is_in_recovery {expected} ({len(fit)} standby fit to serve)", answer, answer == expected)
