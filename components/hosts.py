"""One Docker provider per host: the local socket, or ssh://user@address for listed hosts."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from tunestack.targets import docker_url, machine_name
from tunestack.stackfile.spec import HostSpec


@dataclass
class DockerHostsArgs:
    hosts: tuple[HostSpec, ...]
    registry: tuple[str, str] | None = None                 # (address, username): private images
    registry_password: pulumi.Output[str] | None = None     # tunestack:registryPassword (secret)


class DockerHosts(pulumi.ComponentResource):
    """`providers[(host name, index)]` is the Docker provider of one machine."""

    def __init__(self, name: str, args: DockerHostsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:DockerHosts", name, None, opts)
        self.providers: dict[tuple[str, int], docker.Provider] = {}
        self.names: dict[tuple[str, int], str] = {}  # machine key → name suffix, e.g. app-2
        self.urls: dict[tuple[str, int], str] = {}   # machine key → DOCKER_HOST for the Docker CLI
        # Every machine pulls the app's private images with the same credentials; the password stays secret.
        auth = [docker.ProviderRegistryAuthArgs(address=args.registry[0], username=args.registry[1],
                                                password=pulumi.Output.secret(args.registry_password))] \
            if args.registry and args.registry_password is not None else None
        for host in args.hosts:
            for i in range(host.count):
                suffix = machine_name(host, i)
                self.names[(host.name, i)] = suffix
                self.urls[(host.name, i)] = docker_url(host, i)
                self.providers[(host.name, i)] = docker.Provider(
                    f"{name}-{suffix}", host=self.urls[(host.name, i)],
                    ssh_opts=["-o", "StrictHostKeyChecking=accept-new"] if host.addresses else None,
                    registry_auth=auth, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"hosts": [f"{h}#{i}" for h, i in self.providers]})
