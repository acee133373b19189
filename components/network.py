"""The private network on each host: containers talk over it, not over published ports."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker


@dataclass
class PrivateNetworkArgs:
    providers: dict[tuple[str, int], docker.Provider]
    names: dict[tuple[str, int], str]   # machine key → child name suffix (DockerHosts.names)


class PrivateNetwork(pulumi.ComponentResource):
    def __init__(self, name: str, args: PrivateNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:PrivateNetwork", name, None, opts)
        self.networks: dict[tuple[str, int], docker.Network] = {}
        for key, provider in args.providers.items():
            self.networks[key] = docker.Network(
                f"{name}-{args.names[key]}", name=name, driver="bridge",
                opts=pulumi.ResourceOptions(parent=self, provider=provider))
        self.register_outputs({"name": name})
