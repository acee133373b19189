"""PgBouncer: the planned pools, its file-descriptor limit, and an auth file kept secret."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from tunestack.plan.memory import ContainerLimit

from ._container import ContainerSpec, Publish, service_container

USERLIST = "/etc/tunestack/secrets/pgbouncer-userlist.txt"
ADMIN_PASSWORD = "/etc/tunestack/secrets/tunestack_admin-password"   # what `tunestack verify` logs in with


@dataclass
class PgBouncerArgs:
    provider: docker.Provider
    network: pulumi.Input[str]
    image: str
    files: dict[str, str]
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
        spec = ContainerSpec(
            name=name,
            image=args.image,
            limit=args.limit,
            command=["pgbouncer", "/etc/tunestack/pgbouncer.ini"],
            files={"/etc/tunestack/pgbouncer.ini": args.files["pgbouncer.ini"], USERLIST: userlist,
                   ADMIN_PASSWORD: args.admin_password},
            secret_files={USERLIST, ADMIN_PASSWORD},
            healthcheck=["CMD-SHELL", f"bash -c '</dev/tcp/127.0.0.1/{args.port}'"],
            publish=[Publish(args.port, args.publish_address)] if args.publish_address else [],
            ulimits=[docker.ContainerUlimitArgs(name="nofile", soft=args.nofile, hard=args.nofile)],
        )
        self.container = service_container(self, args.provider, args.network, spec)
        self.register_outputs({"container": self.container.name})

