"""AppMigration: the app image's migrate command, once per change of the app image, before any app
replica is created or replaced.

It runs on the db machine, in a throwaway container of the app image on the private network, as
the migrator straight to PostgreSQL (the plan's migrate env); the password arrives on the
command's stdin (`DATABASE_PASSWORD_FILE=/dev/stdin`), never in an argument or an environment
`docker inspect` would show. A failed migration fails `pulumi up` before any replica changes: the
app group waits for this component."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command

# Inputs arrive as environment, never in the script's text.
MIGRATE = ('docker run --rm -i --pull never --network "$NETWORK" --label tunestack.service=migrate '
           '-e DATABASE_URL="$DATABASE_URL" -e DATABASE_PASSWORD_FILE=/dev/stdin "$IMAGE" tunestack-migrate')


@dataclass
class AppMigrationArgs:
    host_url: str                          # DOCKER_HOST of the db machine
    network: pulumi.Input[str]             # its private network (PostgreSQL's alias resolves there)
    image: pulumi.Input[str]               # the app image's id on that machine (images.migration_image)
    env: dict[str, str]                    # the plan's migrate env (DATABASE_URL without a password)
    migrator_password: pulumi.Output[str]


class AppMigration(pulumi.ComponentResource):
    def __init__(self, name: str, args: AppMigrationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:AppMigration", name, None, opts)
        self.run = command.local.Command(
            f"{name}-run", create=MIGRATE, stdin=pulumi.Output.secret(args.migrator_password),
            environment={"DOCKER_HOST": args.host_url, "NETWORK": args.network, "IMAGE": args.image, **args.env},
            triggers=[args.image],   # a new app version's migrations run once, before its replicas
            opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})
