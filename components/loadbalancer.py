"""LoadBalancer: HAProxy with one server per app replica, weighted by the rollout state."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from tunestack.plan.memory import ContainerLimit

from ._container import ContainerSpec, Publish, service_container


@dataclass
class LoadBalancerArgs:
    provider: docker.Provider
    network: pulumi.Input[str]
    image: str
    files: dict[str, str]          # rendered haproxy.cfg (server weights from the plan's split)
    limit: ContainerLimit
    port: int
    publish_address: str           # the entry point: always published, on the host's address


class LoadBalancer(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:LoadBalancer", name, None, opts)
        self.container = service_container(self, args.provider, args.network, ContainerSpec(
            name=name, image=args.image, limit=args.limit,
            files={"/etc/tunestack/haproxy.cfg": args.files["haproxy.cfg"]},
            healthcheck=["CMD", "haproxy", "-c", "-q", "-f", "/etc/tunestack/haproxy.cfg"],
            publish=[Publish(args.port, args.publish_address)],
        ))
        self.endpoint = f"http://{args.publish_address}:{args.port}"
        self.register_outputs({"endpoint": self.endpoint})
