"""Listening sockets: every planned port listens on the planned address, none on a public one."""
import pytest


@pytest.mark.parametrize("service", ["postgres", "pgbouncer", "redis-cache", "redis-queue", "web", "haproxy"])
def test_listening(host, plan, record, service):
    port = plan.ports()[service]
    address = plan.placement.app_bind if service == "web" else plan.placement[service].listen
    address = "0.0.0.0" if address == "*" else address
    record(f"{address}:{port}", "listening" if host.socket(f"tcp://{address}:{port}").is_listening else "not listening",
           host.socket(f"tcp://{address}:{port}").is_listening)


def test_nothing_on_public_addresses(host, plan, record):
    if host.backend.get_connection_type() == "docker":
        pytest.skip("inside a container every interface is the container's own; published ports are the host's")
    ports = set(plan.ports().values())
    public = [s for s in host.socket.get_listening_sockets()
              if s.startswith("tcp://") and int(s.rsplit(":", 1)[1]) in ports
              and any(a in s for a in ("0.0.0.0", "tcp://:::", "tcp://*"))]
    record("[]", public, not public)
