"""PgBouncer: the planned pools, its file-descriptor limit, and an auth file kept secret.

Pools, limits and timeouts arrive live (RELOAD, clients stay connected; see _live.py); the
container's own pgbouncer.ini holds what PgBouncer reads only at start."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from tunestack.plan.memory import ContainerLimit

from ._container import ContainerSpec, Publish, service_container
from ._live import LIVE_DIR, live_files, live_volume

USERLIST = "/etc/tunestack/secrets/pgbouncer-userlist.txt"
ADMIN_PASSWORD = "/etc/tunestack/secrets/tunestack_admin-password"   # what `tunestack verify` logs in with


@dataclass
class PgBouncerArgs:
    provider: docker.Provider
    network: pulumi.Input[str]
    image: pulumi.Input[str]          # image id (StackImages.image_id)
    host_url: str                     # DOCKER_HOST of the db host, for the live file
    live_ini: str                     # the settings RELOAD applies (render_container_bases)
    start_ini: str                    # the container's pgbouncer.ini: the include and start-only settings
    limit: ContainerLimit
    port: int
    nofile: int                       # LimitNOFILE from the plan
    publish_address: str | None
    app_password: pulumi.Output[str]
    admin_password: pulumi.Output[str]


class PgBouncer(pulumi.ComponentResource):
    def __init__(self, name: str, args: PgBouncerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:PgBouncer", name, None, opts)
        userlist = pulumi.Output.format('"app" "{0}"\n"tunestack_admin" "{1}"\n', args.app_password,
                                        args.admin_password)
        self.live_volume = live_volume(self, args.provider, name)
        spec = ContainerSpec(
            name=name,
            image=args.image,
            limit=args.limit,
            command=["pgbouncer", "/etc/tunestack/pgbouncer.ini"],
            files={"/etc/tunestack/pgbouncer.ini": args.start_ini, USERLIST: userlist,
                   ADMIN_PASSWORD: args.admin_password},
            secret_files={USERLIST, ADMIN_PASSWORD},
            healthcheck=["CMD-SHELL", f"bash -c '</dev/tcp/127.0.0.1/{args.port}'"],
            publish=[Publish(args.port, args.publish_address)] if args.publish_address else [],
            volumes=[(self.live_volume, LIVE_DIR)],
            ulimits=[docker.ContainerUlimitArgs(name="nofile", soft=args.nofile, hard=args.nofile)],
        )
        self.container = service_container(self, args.provider, args.network, spec)
        self.live = live_files(self, name, args.host_url, self.container, {"pgbouncer.ini": args.live_ini})
        self.register_outputs({"container": self.container.name})

