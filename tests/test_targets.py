"""targets: the one home of addresses, machine names and host specs."""
import pytest

from tunestack.stackfile.spec import HostSpec
from tunestack.targets import (LOCAL_SOCKET, checked_host_spec, container_spec, docker_url, is_address,
                               machine_name, ssh_target, ssh_url)


def host(count=1, addresses=(), ssh_user=None, name="app"):
    return HostSpec(name, ("app",), count, 2, 2**30, "ssd", "stack file", addresses=addresses, ssh_user=ssh_user)


@pytest.mark.parametrize("count,index,name", [(1, 0, "app"), (3, 0, "app-1"), (3, 2, "app-3")])
def test_machine_names(count, index, name):
    assert machine_name(host(count), index) == name


def test_addresses_with_and_without_a_user():
    h = host(2, ("10.0.0.5", "10.0.0.6"), "deploy")
    assert (ssh_target(h, 1), ssh_url(h, 0), docker_url(h, 1)) == \
        ("deploy@10.0.0.6", "ssh://deploy@10.0.0.5", "ssh://deploy@10.0.0.6")
    assert ssh_url(host(1, ("db.internal",))) == "ssh://db.internal"


def test_a_host_without_addresses_is_this_machines_engine():
    assert docker_url(host()) == LOCAL_SOCKET


def test_checks_in_a_container_run_as_its_service_user():
    # Docker gives root no CAP_SYS_PTRACE: only the owner reads a process's sockets and limits.
    assert container_spec("pgbouncer", "prod-pgbouncer") == "docker://postgres@prod-pgbouncer"
    assert container_spec("haproxy", "prod-lb") == "docker://haproxy@prod-lb"


@pytest.mark.parametrize("text", ["10.0.0.1", "::1", "db.internal", "a-b.example.com"])
def test_addresses(text):
    assert is_address(text)


@pytest.mark.parametrize("text", ["-oProxyCommand=x", "10.0.0.1 10.0.0.2", "a_b", "", "x" * 254, "host\nname"])
def test_not_addresses(text):
    assert not is_address(text)


@pytest.mark.parametrize("spec", ["local://", "docker://prod-db", "ssh://deploy@10.0.0.1:2222", "ssh://db.internal",
                                  "paramiko://10.0.0.1"])
def test_good_host_specs(spec):
    assert checked_host_spec(spec) == spec


@pytest.mark.parametrize("spec", ["ssh://-oProxyCommand=touch /tmp/x", "ssh://deploy@10.0.0.1 -v", "local://x",
                                  "docker://-v", "ftp://x", "ssh://Root@x"])
def test_host_specs_that_could_reach_ssh_as_options_are_refused(spec):
    with pytest.raises(ValueError, match="ssh://\\[user@\\]host"):
        checked_host_spec(spec)
