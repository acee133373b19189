"""How tunestack's commands reach a machine's Docker engine: one docker SDK client per URL."""
from __future__ import annotations


def engine_client(url: str, timeout: int = 600):
    """A docker SDK client of the engine at `url`: unix://… on this machine, or ssh://user@address
    through the ssh client (its config, agent and known hosts), as the docker CLI and the Pulumi
    provider reach it. `timeout`: seconds an API call may take (a build or a backup runs long)."""
    import docker

    return docker.DockerClient(base_url=url, use_ssh_client=url.startswith("ssh://"), timeout=timeout)
