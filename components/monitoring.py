"""Monitoring: Prometheus, Alertmanager and the exporters of a stack on Docker, one server per
container, as tunestack/monitoring/containers.py lays them out from the plan (which, where, with
which files, secrets, ports and probe). Prometheus' targets and rules and Alertmanager's receiver
arrive live (components/_live.py): a plan change reloads them and replaces no container. The exporters' credentials are secret uploads, 0600 and
the `prometheus` user's (the image's entrypoint); none is in a command line or an environment
variable. Prometheus' and Alertmanager's data volumes are not protected: losing them loses
history and silences, never a user's data."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from tunestack.monitoring.containers import ETC, HOST_ROOT, SECRETS, MonitoringContainer
from tunestack.plan.memory import ContainerLimit
from tunestack.plan.tls import KEY_FILE

from ._container import ContainerSpec, Publish, data_volume, service_container
from ._live import LIVE_DIR, live_files, live_volume
from .cluster import Machine


@dataclass
class MonitoringArgs:
    containers: tuple[MonitoringContainer, ...]          # monitoring_containers(plan)
    machines: dict[tuple[str, int], Machine]              # every machine a container runs on
    limits: dict[tuple[str, str], ContainerLimit]         # (host, service) → plan.container(host, service)
    files: dict[str, str]                                 # rendered files by name (render_plan)
    secret_files: pulumi.Output                           # exporter credentials by name (servers.secret_files)
    tls_files: dict[str, dict[str, pulumi.Input[str]]] = field(default_factory=dict)   # plan.tls key → its files
    ca_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)               # StackCertificates.client_files


class Monitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:Monitoring", name, None, opts)
        self.containers, self.live = {}, []
        for c in args.containers:
            machine = args.machines[(c.host, c.machine)]
            self.containers[c.name] = self._container(c, machine, args)
            if c.live:   # targets, rules, receiver: delivered and reloaded, never a replacement
                self.live += live_files(self, c.name, machine.host_url, self.containers[c.name],
                                        {n: args.files[n] for n in c.live})
        self.register_outputs({"containers": sorted(self.containers)})

    def _container(self, c: MonitoringContainer, machine: Machine, args: MonitoringArgs):
        files: dict[str, pulumi.Input[str]] = {f"{ETC}/{n}": args.files[n] for n in c.files}
        secrets = {f"{SECRETS}/{n}" for n in c.secrets}
        files |= {f"{SECRETS}/{n}": args.secret_files.apply(lambda s, n=n: s[n]) for n in c.secrets}
        files |= args.tls_files[c.tls] if c.tls else args.ca_files if c.ca else {}
        volumes = [(data_volume(self, machine.provider, f"{c.name}-data", protect=False), c.data)] if c.data else []
        if c.live:
            volumes.append((live_volume(self, machine.provider, c.name), LIVE_DIR))
        return service_container(self, machine.provider, machine.network, ContainerSpec(
            name=c.name, image=machine.image, limit=args.limits[(c.host, c.service)],
            command=list(c.command), files=files, secret_files=secrets | {KEY_FILE},
            envs=[f"{k}={v}" for k, v in c.env] + ([f"TUNESTACK_DATA_DIR={c.data}"] if c.data else []),
            volumes=volumes, publish=[Publish(port, address) for port, address in c.publish],
            healthcheck=["CMD", "tunestack-probe", c.health],
            binds=[("/", HOST_ROOT)] if c.host_root else [], pid_mode="host" if c.host_root else None))
