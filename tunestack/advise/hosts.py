"""Where advise reads each area, over the same connections as verify: local:// for a stack on this
machine; ssh:// to the host a service is placed on; docker://user@container for a Docker stack,
through that machine's engine (DOCKER_HOST=ssh://… for a remote one). One testinfra host per area."""
from __future__ import annotations

from dataclasses import dataclass

# The service whose host (or container) each sampled area is read on.
AREA_SERVICE = {"postgres": "postgres", "pgbouncer": "pgbouncer", "redis_cache": "redis-cache",
                "redis_queue": "redis-queue", "queue": "redis-queue"}


@dataclass(frozen=True)
class Where:
    spec: str                    # a testinfra host spec
    docker_host: str | None = None


def areas(plan, target: str) -> dict[str, Where]:
    from ..plan.placement import container_name
    from ..targets import container_spec, docker_url, ssh_url

    out = {}
    for area, service in AREA_SERVICE.items():
        host = plan.placement[service].host
        if target == "docker":
            out[area] = Where(container_spec(service, container_name(plan.stack, service)), docker_url(host, 0))
        elif host.is_local:
            out[area] = Where("local://")
        else:
            out[area] = Where(ssh_url(host, 0))
    return out
