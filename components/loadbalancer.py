"""LoadBalancer: HAProxy with one server per app replica, weighted by the rollout state.

haproxy.cfg arrives live (a master-worker reload on the same sockets; see _live.py): a new replica,
a changed weight or a rollout step never replaces the container, so no step drops a connection."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from tunestack.plan.memory import ContainerLimit

from ._container import ContainerSpec, Publish, service_container
from ._live import LIVE_DIR, live_files, live_volume


@dataclass
class LoadBalancerArgs:
    provider: docker.Provider
    network: pulumi.Input[str]
    image: pulumi.Input[str]          # image id (StackImages.image_id)
    host_url: str                  # DOCKER_HOST of the load balancer's host, for the live file
    files: dict[str, str]          # rendered haproxy.cfg (server weights from the plan's split)
    limit: ContainerLimit
    port: int
    publish_address: str           # the entry point: always published, on the host's address


class LoadBalancer(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:LoadBalancer", name, None, opts)
        self.live_volume = live_volume(self, args.provider, name)
        self.container = service_container(self, args.provider, args.network, ContainerSpec(
            name=name, image=args.image, limit=args.limit, files={},
            volumes=[(self.live_volume, LIVE_DIR)],
            healthcheck=["CMD", "haproxy", "-c", "-q", "-f", "/usr/local/share/tunestack/haproxy-base.cfg",
                         "-f", f"{LIVE_DIR}/"],
            publish=[Publish(args.port, args.publish_address)],
        ))
        self.live = live_files(self, name, args.host_url, self.container, {"haproxy.cfg": args.files["haproxy.cfg"]})
        self.endpoint = f"http://{args.publish_address}:{args.port}"
        self.register_outputs({"endpoint": self.endpoint})
