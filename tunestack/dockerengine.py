"""How tunestack's commands reach a machine's Docker engine: one docker SDK client per URL, and a
file read out of a container through it."""
from __future__ import annotations

import io
import tarfile


def engine_client(url: str, timeout: int = 600):
    """A docker SDK client of the engine at `url`: unix://… on this machine, or ssh://user@address
    through the ssh client (its config, agent and known hosts), as the docker CLI and the Pulumi
    provider reach it. `timeout`: seconds an API call may take (a build or a backup runs long)."""
    import docker

    return docker.DockerClient(base_url=url, use_ssh_client=url.startswith("ssh://"), timeout=timeout)


def read_file(container, path: str) -> bytes:
    """One file's bytes out of a container (the engine's archive API: no exec, no shell)."""
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return tar.extractfile(tar.getmembers()[0]).read()
