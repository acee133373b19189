"""The Pulumi program for a stack with standbys (issue #28), under Pulumi's mocks: where each of
Patroni's nodes, etcd's members, the proxy to the primary and PgBouncer land, what waits for what,
and that no password of theirs is in plain text. tests/multihost/test_ha_bed.py replays the same
program on the test bed's engines and fails over for real."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.mockrun import SECRET_SIG, run_program
from tests.docker.replay import plain
from tests.test_pulumi_program import _walk_plain
from tunestack import stackfile

pytestmark = pytest.mark.pulumi
CONTAINER = "docker:index/container:Container"
ADDRESSES = {"db": ["10.20.1.10", "10.20.1.11"], "cache": ["10.20.1.20"]}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> object:
    """staging with one standby: a second db machine."""
    doc = yaml.safe_load(stackfile.stack_path("staging").read_text())
    hosts = doc["config"]["tunestack:hosts"]
    hosts[0].update(count=2, addresses=ADDRESSES["db"])
    doc["config"]["tunestack:postgres"]["replicas"] = 1
    path = tmp_path_factory.mktemp("ha") / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(doc))
    return run_program("staging", stack_file=path)


def provider_host(run, registration) -> str:
    return plain(run.by_name(registration.provider_name).inputs)["host"]


def containers(run) -> dict[str, object]:
    return {plain(c.inputs)["name"]: c for c in run.of_type(CONTAINER)}


def test_each_node_and_etcd_member_runs_on_a_machine_of_its_own_and_pgbouncer_beside_the_proxy(run):
    c = containers(run)
    where = {name: provider_host(run, r) for name, r in c.items()}
    assert where["staging-pg-0"] != where["staging-pg-1"]
    assert {where["staging-pg-0"], where["staging-pg-1"]} == {f"ssh://deploy@{a}" for a in ADDRESSES["db"]}
    members = [n for n in c if n.startswith("staging-etcd-")]
    assert len(members) == 3 and len({where[m] for m in members}) == 3
    cache = f"ssh://deploy@{ADDRESSES['cache'][0]}"
    assert where["staging-postgres-proxy"] == where["staging-pgbouncer"] == cache
    assert "staging-postgres" not in c, "no single server beside the cluster"
    proxy_aliases = plain(c["staging-postgres-proxy"].inputs)["networksAdvanced"][0]["aliases"]
    assert proxy_aliases == ["staging-postgres"]   # what PgBouncer and the migrations connect to


def test_node_zero_makes_the_cluster_before_the_other_and_both_after_etcd_auth(run):
    c = containers(run)
    auth = run.by_name("staging-pg-etcd-auth")
    assert c["staging-pg-0"].urn in run.waits_for(c["staging-pg-1"])
    for node in ("staging-pg-0", "staging-pg-1"):
        assert auth.urn in run.waits_for(c[node])
    for member in (n for n in c if n.startswith("staging-etcd-")):
        assert c[member].urn in run.waits_for(auth)


def test_pgbouncer_and_the_migrations_wait_for_the_proxys_configuration(run):
    c = containers(run)
    proxy_live = run.by_name("staging-postgres-proxy-live-haproxy.cfg")
    assert proxy_live.urn in run.waits_for(c["staging-pgbouncer"])
    assert proxy_live.urn in run.waits_for(run.by_name("staging-migrate-run"))


def test_patroni_and_etcd_passwords_reach_the_nodes_only_as_secret_files(run):
    c = containers(run)
    for node in ("staging-pg-0", "staging-pg-1"):
        uploads = {u["file"]: u["content"] for u in c[node].inputs["uploads"]}
        for name in ("replication", "rewind", "patroni-api", "etcd-patroni"):
            assert SECRET_SIG in uploads[f"/etc/tunestack/secrets/{name}-password"], (node, name)
        assert all(isinstance(e, str) and "PASSWORD" not in e for e in c[node].inputs["envs"])
        yml = plain(c[node].inputs)["uploads"]
        patroni = next(u["content"] for u in yml if u["file"] == "/etc/tunestack/patroni.yml")
        assert "password" not in patroni.lower().replace("passwords come from the environment", "")
    auth = run.by_name("staging-pg-etcd-auth")
    assert SECRET_SIG in json.dumps(auth.inputs["stdin"])   # the passwords: on stdin, as a secret
    secrets = [f"mock-generated-staging-secrets-{k}" for k in ("replication", "rewind", "patroni-api", "etcd-root",
                                                                 "etcd-patroni")]
    for r in run.registrations:
        _walk_plain(r.inputs, secrets, r.name)
    assert not any(s in json.dumps(run.outputs) for s in secrets)


def test_the_app_password_goes_to_every_node_and_to_pgbouncer_on_its_host(run):
    switch = plain(run.by_name("staging-db-password-switch").inputs)
    env = switch["environment"]
    targets = env["POSTGRES"].split()
    assert [t.split("|")[1] for t in targets] == ["staging-pg-0", "staging-pg-1"]
    assert env["BOUNCER_HOST"] == f"ssh://deploy@{ADDRESSES['cache'][0]}"


def test_a_stack_without_standbys_keeps_its_resources(tmp_path):
    """Adding the HA code changed nothing for the stacks that have no replicas."""
    run = run_program("staging")
    names = {plain(c.inputs)["name"] for c in run.of_type(CONTAINER)}
    assert "staging-postgres" in names and not any(n.startswith(("staging-pg-", "staging-etcd-")) for n in names)
    assert not [r for r in run.registrations if r.name.startswith("staging-secrets-") and "etcd" in r.name]


def test_etcd_serves_tls_only_and_asks_its_peers_for_a_certificate(run):
    c = containers(run)
    for name in (n for n in c if n.startswith("staging-etcd-")):
        args = plain(c[name].inputs)["command"]
        flags = dict(a.split("=", 1) if "=" in a else (a, "") for a in args[1:])
        urls = [flags[k] for k in ("--listen-client-urls", "--advertise-client-urls", "--listen-peer-urls",
                                   "--initial-advertise-peer-urls")]
        assert all(u.startswith("https://") for u in urls), urls
        assert all(p.split("=", 1)[1].startswith("https://") for p in flags["--initial-cluster"].split(","))
        assert "--peer-client-cert-auth" in flags and flags["--peer-trusted-ca-file"] == "/etc/tunestack/tls/ca.crt"
        uploads = {u["file"]: u["content"] for u in c[name].inputs["uploads"]}
        assert SECRET_SIG in uploads[flags["--key-file"]]
        assert {flags["--cert-file"], "/etc/tunestack/tls/ca.crt"} <= set(uploads)


def test_patronis_api_serves_https_and_the_proxy_checks_it_against_the_ca(run):
    c = containers(run)
    for node in ("staging-pg-0", "staging-pg-1"):
        uploads = {u["file"]: u["content"] for u in plain(c[node].inputs)["uploads"]}
        patroni = yaml.safe_load(uploads["/etc/tunestack/patroni.yml"])
        assert patroni["restapi"]["certfile"] in uploads and patroni["restapi"]["cafile"] in uploads
        assert patroni["etcd3"]["protocol"] == "https"
        assert plain(c[node].inputs)["healthcheck"]["tests"][-1] == "https"
    proxy = {u["file"]: u["content"] for u in plain(c["staging-postgres-proxy"].inputs)["uploads"]}
    assert set(proxy) == {"/etc/tunestack/tls/ca.crt"}, "the proxy holds the CA, no key"
    cfg = run.by_name("staging-postgres-proxy-live-haproxy.cfg")
    text = json.dumps(plain(cfg.inputs))
    assert text.count("check-ssl verify required ca-file /etc/tunestack/tls/ca.crt") == 4   # 2 nodes, 2 services


def test_patronis_dynamic_configuration_is_patched_after_the_nodes_and_on_every_change(run):
    """bootstrap.dcs counts once (Patroni docs, "Dynamic configuration"): a changed rto reaches a
    running cluster only through PATCH /config, which this command sends whenever the plan's
    configuration (its trigger) changes."""
    c = containers(run)
    dcs = run.by_name("staging-pg-dcs")
    inputs = plain(dcs.inputs)
    body = json.loads(inputs["environment"]["BODY"])
    assert inputs["triggers"] == [inputs["environment"]["BODY"]]
    assert (body["ttl"], body["loop_wait"], body["retry_timeout"]) == (21, 3, 9)   # rto 30s: tests/postgres/test_patroni.py
    assert [t.split("|")[1] for t in inputs["environment"]["NODES"].split()] == ["staging-pg-0", "staging-pg-1"]
    for node in ("staging-pg-0", "staging-pg-1"):
        assert c[node].urn in run.waits_for(dcs)
    assert "password" not in json.dumps(inputs).lower().replace("patroni-api-password", "")
