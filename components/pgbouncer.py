"""PgBouncer: the planned pools, its file-descriptor limit, and an auth file kept secret.

Pools, limits and timeouts arrive live (RELOAD, clients stay connected; see _live.py); the
container's own pgbouncer.ini holds what PgBouncer reads only at start.

A PostgreSQL restart (its container replaced for a start-only setting or a new password) holds
clients instead of failing them: the `<name>-hold` command's trigger is PostgreSQL's container id,
so when that container is replaced (delete first), the engine deletes the command before it, and
its `delete` PAUSEs PgBouncer; once the new PostgreSQL is healthy the command is created again and
RESUMEs. Queries wait meanwhile, up to query_wait_timeout."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from tunestack.plan.memory import ContainerLimit
from tunestack.plan.tls import KEY_FILE
from tunestack.render import render_text

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
    postgres_id: pulumi.Input[str]    # PostgreSQL's container id: its replacement is held (PAUSE/RESUME)
    limit: ContainerLimit
    port: int
    publish_address: str | None
    admin_password: pulumi.Output[str]
    jobs_password: pulumi.Output[str]
    tls_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)   # StackCertificates.files
    monitor_password: pulumi.Output[str] | None = None   # tunestack:monitoring: the exporter's stats user


class PgBouncer(pulumi.ComponentResource):
    def __init__(self, name: str, args: PgBouncerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:PgBouncer", name, None, opts)
        # The app user's password arrives live (DatabasePassword): a rotation never restarts PgBouncer.
        userlist = pulumi.Output.all(args.admin_password, args.jobs_password, args.monitor_password).apply(
            lambda pw: render_text("pgbouncer-userlist.txt.j2", app=None, admin=pw[0], jobs=pw[1], monitor=pw[2]))
        self.live_volume = live_volume(self, args.provider, name)
        spec = ContainerSpec(
            name=name,
            image=args.image,
            limit=args.limit,
            command=["pgbouncer", "/etc/tunestack/pgbouncer.ini"],
            files={"/etc/tunestack/pgbouncer.ini": args.start_ini, USERLIST: userlist,
                   ADMIN_PASSWORD: args.admin_password, **args.tls_files},
            secret_files={USERLIST, ADMIN_PASSWORD, KEY_FILE},
            healthcheck=["CMD-SHELL", f"bash -c '</dev/tcp/127.0.0.1/{args.port}'"],
            publish=[Publish(args.port, args.publish_address)] if args.publish_address else [],
            volumes=[(self.live_volume, LIVE_DIR)],
        )
        self.container = service_container(self, args.provider, args.network, spec)
        self.live = live_files(self, name, args.host_url, self.container, {"pgbouncer.ini": args.live_ini})
        self.hold = command.local.Command(
            f"{name}-hold",
            create=pulumi.Output.concat("docker exec ", self.container.name, " tunestack-hold resume"),
            delete=pulumi.Output.concat("docker exec ", self.container.name, " tunestack-hold pause"),
            environment={"DOCKER_HOST": args.host_url},
            triggers=[args.postgres_id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]))
        self.register_outputs({"container": self.container.name})

