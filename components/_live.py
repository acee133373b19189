"""Config that reaches a running container without replacing it.

The real provider replaces a container when any upload, env or image changes, so a setting that a
server can reload must not live in the container's inputs. Each such file is delivered by a
`command.local.Command` that pipes it into `tunestack-live FILE` inside the container (the image's
own script: install the file, reload the server, fail on a file the server rejects). It runs on the
machine that runs `pulumi up`, with the Docker CLI pointed at the container's host (DOCKER_HOST:
the local socket or ssh://user@address, as the provider uses).

The files sit on a volume of their own, so a container replaced for a restart-only change starts
with the last delivered settings. The container's id is a trigger: a replaced container gets every
live file again, and a file's change re-runs its command (an update) and nothing else."""
from __future__ import annotations

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from tunestack.paths import LIVE_DIR  # noqa: F401  (components import it from here)


def live_volume(parent: pulumi.ComponentResource, provider: docker.Provider, name: str) -> docker.Volume:
    """Delivered files only: re-delivered after any loss, so not protected."""
    return docker.Volume(f"{name}-live", name=f"{name}-live",
                         opts=pulumi.ResourceOptions(parent=parent, provider=provider))


def live_files(parent: pulumi.ComponentResource, name: str, host_url: str, container: docker.Container,
               files: dict[str, pulumi.Input[str]]) -> list[command.local.Command]:
    """One command per file, named `<name>-live-<file>`; each depends on the container."""
    return [command.local.Command(
        f"{name}-live-{file}",
        create=pulumi.Output.concat("docker exec -i ", container.name, " tunestack-live ", file),
        stdin=content,
        environment={"DOCKER_HOST": host_url},
        triggers=[container.id],
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[container]),
    ) for file, content in sorted(files.items())]
