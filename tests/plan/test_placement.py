"""Placement: where each service listens, how clients reach it, what is published — decided once."""
import pytest

from tunestack.plan.placement import place
from tunestack.stackfile.spec import HostSpec

from .helpers import spec


def shape(*hosts):
    s = spec("staging")
    from dataclasses import replace
    return replace(s, name="t", hosts=tuple(hosts))


ALL_LOCAL = HostSpec("one", ("db", "cache", "app"), 1, 4, 8 * 1024**3, "ssd", "stack file")
ONE_REMOTE = HostSpec("one", ("db", "cache", "app"), 1, 4, 8 * 1024**3, "ssd", "stack file", addresses=("10.9.0.5",))
DB = HostSpec("db", ("db",), 1, 8, 32 * 1024**3, "ssd", "stack file", addresses=("10.9.0.10",))
CACHE = HostSpec("cache", ("cache",), 1, 4, 16 * 1024**3, "ssd", "stack file", addresses=("10.9.0.11",))
APPS = HostSpec("app", ("app",), 2, 4, 8 * 1024**3, "ssd", "stack file", addresses=("10.9.0.20", "10.9.0.21"))


@pytest.mark.parametrize("hosts,target,service,listen,reach,publish", [
    # packages on this machine: loopback only, nothing published
    ((ALL_LOCAL,), "hosts", "pgbouncer", "127.0.0.1", "127.0.0.1", None),
    ((ALL_LOCAL,), "hosts", "redis-queue", "127.0.0.1", "127.0.0.1", None),
    # Docker on one host: listen inside the container, clients use the network alias, no host port
    ((ALL_LOCAL,), "docker", "pgbouncer", "*", "t-pgbouncer", None),
    ((ALL_LOCAL,), "docker", "redis-cache", "0.0.0.0", "t-redis-cache", None),
    ((ALL_LOCAL,), "docker", "postgres", "*", "t-postgres", None),
    # Docker on one remote host: still the alias for clients; published on the private address
    ((ONE_REMOTE,), "docker", "pgbouncer", "*", "t-pgbouncer", "10.9.0.5"),
    # Docker on many hosts: app hosts reach PgBouncer and Redis on their hosts' private addresses
    ((DB, CACHE, APPS), "docker", "pgbouncer", "*", "10.9.0.10", "10.9.0.10"),
    ((DB, CACHE, APPS), "docker", "redis-queue", "0.0.0.0", "10.9.0.11", "10.9.0.11"),
    ((DB, CACHE, APPS), "docker", "postgres", "*", "t-postgres", "10.9.0.10"),   # PgBouncer sits beside it
    # packages on many hosts: each service binds its host's private address
    ((DB, CACHE, APPS), "hosts", "pgbouncer", "10.9.0.10", "10.9.0.10", None),
    ((DB, CACHE, APPS), "hosts", "haproxy", "10.9.0.11", "10.9.0.11", None),
    ((DB, CACHE, APPS), "docker", "haproxy", "0.0.0.0", "10.9.0.11", "10.9.0.11"),   # the entry point
])
def test_services(hosts, target, service, listen, reach, publish):
    spot = place(shape(*hosts), target)[service]
    assert (spot.listen, spot.reach, spot.publish) == (listen, reach, publish)


@pytest.mark.parametrize("hosts,target,addresses,published,canary", [
    ((ALL_LOCAL,), "hosts", ["127.0.0.1"], [None], True),          # the local canary slot beside stable
    # HAProxy beside the app: the alias; one replica, so the canary gets a slot of its own (issue #26)
    ((ALL_LOCAL,), "docker", ["t-app-web-1"], [None], True),
    ((DB, CACHE, APPS), "docker", ["10.9.0.20", "10.9.0.21"], ["10.9.0.20", "10.9.0.21"], False),
    ((DB, CACHE, APPS), "hosts", ["10.9.0.20", "10.9.0.21"], [None, None], False),
])
def test_replicas(hosts, target, addresses, published, canary):
    where = place(shape(*hosts), target)
    assert [r.address for r in where.replicas] == addresses
    assert [r.publish for r in where.replicas] == published
    assert (where.canary is not None) == canary


@pytest.mark.parametrize("hosts,target,bind", [
    ((ALL_LOCAL,), "hosts", "127.0.0.1"), ((ALL_LOCAL,), "docker", "0.0.0.0"), ((DB, CACHE, APPS), "hosts", "0.0.0.0"),
])
def test_app_bind(hosts, target, bind):
    assert place(shape(*hosts), target).app_bind == bind


def test_unknown_target():
    with pytest.raises(ValueError):
        place(shape(ALL_LOCAL), "k8s")


ONE_APP = HostSpec("app", ("app",), 1, 4, 8 * 1024**3, "ssd", "stack file", addresses=("10.9.0.20",))


@pytest.mark.parametrize("hosts,steps,slot", [
    # one replica: a canary replacing it would take 100 % at the first step (issue #26, point 6)
    ((ALL_LOCAL,), (10, 25, 50, 100), ("t-app-web-canary", "t-app-web-canary", 8000, None)),
    # the load balancer on another host: published on the app port + 100 beside the stable replica
    ((DB, CACHE, ONE_APP), (10, 50, 100), ("t-app-web-canary", "10.9.0.20", 8100, "10.9.0.20")),
    # two replicas whose 75 % step rounds to both: nothing stable would be left
    ((DB, CACHE, APPS), (10, 75, 100), ("t-app-web-canary", "10.9.0.20", 8100, "10.9.0.20")),
    # two replicas, 50 % at most: one canary replica, one stable; no slot
    ((DB, CACHE, APPS), (10, 25, 50, 100), None),
    # straight to 100 %: no step shares traffic, so no slot
    ((ALL_LOCAL,), (100,), None),
])
def test_docker_canary_slot(hosts, steps, slot):
    from dataclasses import replace
    s = shape(*hosts)
    s = replace(s, app=replace(s.app, port=8000), rollout=replace(s.rollout, steps=steps))
    where = place(s, "docker")
    got = where.canary and (where.canary.name, where.canary.address, where.canary.port, where.canary.publish)
    assert got == slot
    assert where.app_slots == where.replicas + ((where.canary,) if slot else ())
