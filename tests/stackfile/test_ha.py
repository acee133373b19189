"""Bad input in postgres.replicas, rpo, rto and etcd_hosts (issue #28): an RTO Patroni cannot keep,
two etcd members on one machine, an RPO with no standby to wait for, standbys on a machine without
room for them, standbys sharing the primary's machine. Each case is a whole stack file: exit 2, one
clear error, nothing planned (badinput.check)."""
import copy

import pytest
import yaml

from .badinput import BASE, PG, check, staging_with


def local_with(**postgres):
    doc = copy.deepcopy(BASE)
    doc["config"][PG].update(postgres)
    return yaml.safe_dump(doc)


def small_local(**postgres):
    doc = yaml.safe_load(local_with(**postgres))
    doc["config"]["tunestack:hosts"][0]["memory"] = "2GiB"
    return yaml.safe_dump(doc)


def staging_ha(db_count=3, **postgres):
    def change(c):
        c[PG].update(postgres)
        db = c["tunestack:hosts"][0]
        db["count"], db["addresses"] = db_count, [f"10.20.1.{10 + i}" for i in range(db_count)]
    return staging_with(change)


def two_machines(c):
    """A primary and a standby, each on its own machine, and nothing else: 2 machines in all."""
    c[PG]["replicas"] = 1
    c["tunestack:hosts"] = [{"name": "db", "roles": ["db", "cache", "app"], "count": 2, "instance_type": "m6i.2xlarge",
                             "addresses": ["10.20.1.10", "10.20.1.11"]}]


CASES = [
    # Patroni docs, "Dynamic configuration": ttl at least 20 s; the RTO adds loop_wait, promotion, check.
    ("rto-below-patroni", local_with(replicas=1, rto="20s"), ["postgres → rto", "from 28s"]),
    ("rto-fraction", local_with(replicas=1, rto="30500ms"), ["postgres → rto", "whole seconds"]),
    ("two-etcd-on-one-host", staging_ha(replicas=2, etcd_hosts=["cache", "cache", "db"]),
     ["etcd_hosts", "two etcd members on one machine"]),
    ("etcd-even", staging_ha(replicas=2, etcd_hosts=["cache", "db"]), ["etcd_hosts", "3 or 5 hosts"]),
    ("etcd-unknown-host", staging_ha(replicas=2, etcd_hosts=["cache", "db", "nas"]), ["etcd_hosts", "db, cache, app"]),
    # etcd FAQ: a cluster of 2 survives no loss; a stack of 2 machines cannot place 3 members.
    ("two-machines-for-etcd", staging_with(two_machines), ["etcd_hosts", "3 machines for etcd"]),
    ("rpo-0-without-replica", local_with(rpo=0), ["postgres → rpo", "only with postgres.replicas",
                                                  "a synchronous commit needs a standby"]),
    ("rto-without-replica", local_with(rto="30s"), ["postgres → rto", "one server has nothing to fail over to"]),
    ("standby-on-the-primarys-machine", staging_ha(db_count=1, replicas=1),
     ["tunestack:hosts[0] → count", "one machine per PostgreSQL node"]),
    ("no-room-for-replicas", small_local(replicas=4), ["postgres", "128 MiB"]),
    ("rpo-not-a-size", local_with(replicas=1, rpo="lots"), ["postgres → rpo"]),
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)



def test_a_port_on_the_read_only_service_is_refused(tmp_path, capsys):
    """local-ha's read-only service sits on postgres.port + 3 (two nodes above the primary service)."""
    doc = yaml.safe_load(local_with(replicas=1))
    doc["config"]["tunestack:pgbouncer"]["port"] = doc["config"][PG]["port"] + 3
    check(tmp_path, capsys, "replica-port-taken", yaml.safe_dump(doc), ["a port not already taken"])


def test_a_stack_of_one_machine_per_node_plans(tmp_path, capsys):
    """A db host with one machine per PostgreSQL node is the point of replicas; such a file was
    refused until db and cache hosts could have more than one machine."""
    from tunestack.cli import main

    path = tmp_path / "Pulumi.ha.yaml"
    path.write_text(staging_ha(replicas=2))
    assert main(["plan", "--stack-file", str(path)]) == 0, capsys.readouterr().err
