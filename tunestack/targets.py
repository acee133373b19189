"""Where a stack's services are reached: the one home of SSH and Docker addresses, machine names,
the users services run as, "is this stack on this machine?", and testinfra host specs.

verify, advise, rollouts, `images check` and the Pulumi program all ask these questions; each
answer is written here once."""
from __future__ import annotations

import ipaddress
import re

LOCAL_SOCKET = "unix:///var/run/docker.sock"
Machine = tuple[str, int]   # (host name in the stack file, which of its `count` machines)

# The user each image's service runs as. Checks inside a container run as that user: Docker gives
# root no CAP_SYS_PTRACE, so only the owner may read a process's sockets, limits and environment.
RUNS_AS = {"postgres": "postgres", "pgbouncer": "postgres", "redis-cache": "redis", "redis-queue": "redis",
           "lb": "haproxy", "haproxy": "haproxy", "app": "app", "monitoring": "prometheus"}
# The planned service → the container it runs in (the load balancer's container is `lb`).
CONTAINER_OF = {"postgres": "postgres", "pgbouncer": "pgbouncer", "redis-cache": "redis-cache",
                "redis-queue": "redis-queue", "haproxy": "lb"}

HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_HOST_SPEC = re.compile(r"^(local|docker|ssh|paramiko)://(?:([a-z_][a-z0-9_-]{0,31})@)?([^:/@?]*)(?::([0-9]{1,5}))?$")
_CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def is_address(text: str) -> bool:
    """An IP address or an RFC 1123 host name: nothing that a config file or ssh reads as more."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        # RFC 1123 2.1: a name that looks like a dotted-decimal number must be one (10.20.1 and
        # 999.999.999.999 are typos of addresses, not host names).
        return bool(HOSTNAME.match(text)) and not re.fullmatch(r"[0-9.]+", text)


def is_local_stack(spec) -> bool:
    """Every host of the stack is this machine: the local stack, under supervisord."""
    return all(h.is_local for h in spec.hosts)


def machine_name(host, index: int) -> str:
    """One machine of a stack host: its name when it is the only one, else `name-1`, `name-2`, …"""
    return host.name if host.count == 1 else f"{host.name}-{index + 1}"


def ssh_target(host, index: int = 0) -> str:
    """`[user@]address` of one machine of a stack host, as ssh takes it."""
    user = f"{host.ssh_user}@" if host.ssh_user else ""
    return f"{user}{host.addresses[index]}"


def ssh_url(host, index: int = 0) -> str:
    """`ssh://[user@]address`: a testinfra host spec, or a Docker engine over SSH."""
    return f"ssh://{ssh_target(host, index)}"


def docker_url(host, index: int = 0) -> str:
    """The Docker engine of one machine of a stack host: the local socket, or ssh://user@address."""
    return ssh_url(host, index) if host.addresses else LOCAL_SOCKET


def container_spec(service: str, container: str) -> str:
    """A testinfra spec that runs checks inside `container` as the user its service runs as."""
    return f"docker://{RUNS_AS[service]}@{container}"


def checked_host_spec(text: str) -> str:
    """A testinfra host spec that reaches ssh only as [user@]host[:port], never as an option.
    Raises ValueError saying what is allowed (the caller names its flag)."""
    m = _HOST_SPEC.match(text.strip())
    if m:
        scheme, host = m.group(1), m.group(3)
        ok = {"local": not host and not m.group(2), "docker": bool(_CONTAINER.match(host))}.get(scheme, is_address(host))
        if ok:
            return text.strip()
    raise ValueError("write local://, docker://CONTAINER or ssh://[user@]host[:port] with a host name or IP address")
