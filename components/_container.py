"""What every service container shares: pinned image, limits from the plan, uploads, healthcheck,
restart policy, the private network, and host ports only where a client lives on another host.

How the real provider (pulumi-docker 5, terraform-provider-docker underneath) behaves, and what this
module does about it:
- `uploads`, `envs`, `image`, `command` and most other inputs force a replacement. So the settings
  a server can reload are not uploads: they arrive through `_live.py` while the server runs, and
  only what needs a restart anyway (and secrets) is uploaded. Replacements are graceful:
  `stop_timeout` and `destroy_grace_seconds` give each server time to shut down (PostgreSQL's fast
  shutdown, the AOF flushed), never a hard kill.
- A fixed container name or host port makes the old container go first (`delete_before_replace`).
  App replicas that publish nothing get a name per generation instead, so the engine starts the new
  one, waits for its health, and only then deletes the old one (a surge; see app.py).
- The provider reads `cpus` back in its own decimal form (terraform-provider-docker,
  nanoInt64ToDecimalString: "1.0", "0.25", but "30." for thirty), and `cpus` forces a replacement:
  anything else would differ at every refresh and replace the container. `cpus` is sent in exactly
  that form (tunestack.dockercpus).
- A container is "created" once started unless `wait` is set: with `wait`, `pulumi up` fails when a
  container never becomes healthy, instead of reporting success for a crash loop.
- Secret uploads land as files; the images' entrypoints make them 0600 and their service's own."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from tunestack.dockercpus import docker_cpus
from tunestack.plan.memory import ContainerLimit
from tunestack.units import MIB



@dataclass
class Publish:
    """Publish `port` on `address` of the host (the host's private address), as `host_port` there
    when another port (a canary beside the stable replica on the same machine)."""
    port: int
    address: str
    host_port: int | None = None


@dataclass
class ContainerSpec:
    name: str
    image: pulumi.Input[str]                      # image id (StackImages.image_id)
    limit: ContainerLimit
    files: dict[str, pulumi.Input[str]]           # path in the container → content
    healthcheck: list[str]
    command: list[str] | None = None
    envs: list[pulumi.Input[str]] = field(default_factory=list)
    volumes: list[tuple[docker.Volume, str]] = field(default_factory=list)  # (volume, mount path)
    publish: list[Publish] = field(default_factory=list)
    secret_files: set[str] = field(default_factory=set)   # paths whose content is secret
    ulimits: list[docker.ContainerUlimitArgs] = field(default_factory=list)
    shm_bytes: int = 0                                     # /dev/shm, when the plan sizes it
    stop_seconds: int = 30                                 # graceful stop before a kill
    container_name: pulumi.Input[str] | None = None        # default: `name`
    delete_first: bool = True                              # False: start the new one before the old goes
    labels: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)       # names on the private network; default: `name`
    hosts: dict[str, str] = field(default_factory=dict)    # name → address in /etc/hosts (servers on other hosts)
    entrypoint: list[str] | None = None                    # default: the image's
    stop_signal: str | None = None                         # default: the image's STOPSIGNAL
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    binds: list[tuple[str, str]] = field(default_factory=list)   # (host path, container path), read-only
    pid_mode: str | None = None                                   # "host": the machine's PID namespace


def service_container(parent: pulumi.ComponentResource, provider: docker.Provider,
                      network: pulumi.Input[str], spec: ContainerSpec) -> docker.Container:
    uploads = [
        docker.ContainerUploadArgs(file=path, content=pulumi.Output.secret(content) if path in spec.secret_files
                                   else content)
        for path, content in sorted(spec.files.items())
    ]
    return docker.Container(
        spec.name,
        name=spec.container_name or spec.name,
        labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(spec.labels.items())] or None,
        image=spec.image,
        command=spec.command,
        entrypoints=spec.entrypoint,
        hosts=[docker.ContainerHostArgs(host=name, ip=address) for name, address in sorted(spec.hosts.items())]
        or None,
        envs=spec.envs or None,
        uploads=uploads or None,
        memory=spec.limit.memory_bytes // MIB,
        memory_swap=spec.limit.memory_bytes // MIB,  # no swap: the budget is real memory
        cpus=docker_cpus(spec.limit.cpus),
        shm_size=spec.shm_bytes // MIB if spec.shm_bytes else None,
        restart="unless-stopped",
        wait=True,              # fail `pulumi up` on a container that never turns healthy
        wait_timeout=180,
        stop_timeout=spec.stop_seconds,
        stop_signal=spec.stop_signal,
        destroy_grace_seconds=spec.stop_seconds,
        ulimits=spec.ulimits or ([docker.ContainerUlimitArgs(name="nofile", soft=spec.limit.nofile,
                                                             hard=spec.limit.nofile)] if spec.limit.nofile else None),
        # Namespaced kernel settings (plan.kernel): each container is its own network namespace.
        sysctls=dict(spec.limit.sysctls) or None,
        # Docker 20.10 runs the first check one interval after start (no start_interval yet), and
        # `wait`, the surge and PgBouncer's hold around a PostgreSQL restart all wait for it: 2 s.
        healthcheck=docker.ContainerHealthcheckArgs(tests=spec.healthcheck, interval="2s", timeout="5s",
                                                    retries=5, start_period="30s"),
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network, aliases=spec.aliases or [spec.name])],
        ports=[docker.ContainerPortArgs(internal=p.port, external=p.host_port or p.port, ip=p.address)
               for p in spec.publish] or None,
        volumes=[docker.ContainerVolumeArgs(volume_name=v.name, container_path=path) for v, path in spec.volumes]
        + [docker.ContainerVolumeArgs(host_path=host, container_path=path, read_only=True) for host, path in spec.binds]
        or None,
        pid_mode=spec.pid_mode,
        # A fixed name or fixed host ports: the old container must go before the new one starts.
        # Data lives in volumes, which are never replaced.
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, delete_before_replace=spec.delete_first,
                                    depends_on=spec.depends_on or None),
    )


def data_volume(parent: pulumi.ComponentResource, provider: docker.Provider, name: str,
                protect: bool = True) -> docker.Volume:
    """A named volume that outlives its containers; protected volumes refuse `pulumi destroy`."""
    return docker.Volume(name, name=name, opts=pulumi.ResourceOptions(
        parent=parent, provider=provider, protect=protect, retain_on_delete=protect))
