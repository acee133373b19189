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

# Inputs arrive as environment, never in the script's text. With TLS, the stack's CA (public) is
# copied into the container before it starts, where the migrate env's sslrootcert names it.
MIGRATE = (
    'set -e; id=$(docker create -i --pull never --network "$NETWORK" --label tunestack.service=migrate '
    '-e DATABASE_URL="$DATABASE_URL" -e DATABASE_PASSWORD_FILE=/dev/stdin "$IMAGE" tunestack-migrate); '
    'dir=$(mktemp -d); trap \'docker rm -f "$id" >/dev/null 2>&1; rm -rf "$dir"\' EXIT; '
    'if [ -n "$CA_PEM" ]; then mkdir -p "$dir/etc/tunestack/tls"; printf \'%s\\n\' "$CA_PEM" > "$dir/etc/tunestack/tls/ca.crt"; '
    'chmod -R a+rX "$dir/etc"; tar -C "$dir" --owner=0 --group=0 -c etc/tunestack | docker cp - "$id:/"; fi; '
    'docker start -ai "$id"')


@dataclass
class AppMigrationArgs:
    host_url: str                          # DOCKER_HOST of the db machine
    network: pulumi.Input[str]             # its private network (PostgreSQL's alias resolves there)
    image: pulumi.Input[str]               # the app image's id on that machine (images.migration_image)
    env: dict[str, str]                    # the plan's migrate env (DATABASE_URL without a password)
    migrator_password: pulumi.Output[str]
    ca_pem: pulumi.Input[str] = ""          # StackCertificates.ca_pem when PostgreSQL serves TLS


class AppMigration(pulumi.ComponentResource):
    def __init__(self, name: str, args: AppMigrationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:AppMigration", name, None, opts)
        self.run = command.local.Command(
            f"{name}-run", create=MIGRATE, stdin=pulumi.Output.secret(args.migrator_password),
            environment={"DOCKER_HOST": args.host_url, "NETWORK": args.network, "IMAGE": args.image, "CA_PEM": args.ca_pem,
                         **args.env},
            triggers=[args.image],   # a new app version's migrations run once, before its replicas
            opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})
