"""DatabasePassword: the app role's password, set on the running PostgreSQL and PgBouncer, never
by replacing them, and before any app replica changes.

PostgreSQL keeps one password per role and PgBouncer one per user: at the moment they switch, a
client with the other password is refused. So a replica may know two (the app image contract:
DATABASE_PASSWORD_FILE, and during a rotation DATABASE_PASSWORD_PREVIOUS_FILE, tried when the
first is refused), and a rotation is two `pulumi up`s (README: rotating the database password):
1. `tunestack:dbPasswordPrevious` = the password in use, `tunestack:dbPassword` = the new one: the
   servers keep the previous password; the replicas are replaced knowing both.
2. `tunestack:dbPasswordPrevious` removed: this command switches the servers first (PgBouncer
   PAUSEs, so queries wait and none fails; PostgreSQL's role and PgBouncer's auth file take the new
   password; RESUME; sessions already open stay open), and every replica then running knows the
   new password; then the replicas are replaced without the previous one.
A replaced server starts with the password last delivered (the live volume) and gets it again."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_docker as docker

# The password comes on stdin into a shell variable and reaches each container through printf (a
# builtin): in no argument or environment. PgBouncer resumes whatever happens after its pause.
# With standbys, POSTGRES lists every node as DOCKER_HOST|container (the primary sets the password, a
# standby keeps it for the day it leads) and PgBouncer runs on its own host (BOUNCER_HOST).
SWITCH = ('set -eu; pw=$(cat); bouncer() { DOCKER_HOST=${BOUNCER_HOST:-$DOCKER_HOST} docker exec "$@"; }; '
          'bouncer "$PGBOUNCER" tunestack-hold pause >/dev/null; '
          'trap \'bouncer "$PGBOUNCER" tunestack-hold resume >/dev/null\' EXIT; '
          'for target in $POSTGRES; do case "$target" in *"|"*) host=${target%%|*}; target=${target#*|};; '
          '*) host=$DOCKER_HOST;; esac; '
          'printf "%s" "$pw" | DOCKER_HOST=$host docker exec -i "$target" tunestack-live app-password; done; '
          'printf "%s" "$pw" | bouncer -i "$PGBOUNCER" tunestack-live app-password')


@dataclass
class DatabasePasswordArgs:
    host_url: str                     # DOCKER_HOST of the db machine (PostgreSQL and PgBouncer)
    postgres: docker.Container
    pgbouncer: docker.Container
    password: pulumi.Output[str]      # what the servers take: dbPassword, or during a rotation dbPasswordPrevious
    # With standbys: every node as (DOCKER_HOST, container), and PgBouncer's own host
    nodes: list[tuple[str, docker.Container]] = field(default_factory=list)
    bouncer_host_url: str = ""


class DatabasePassword(pulumi.ComponentResource):
    def __init__(self, name: str, args: DatabasePasswordArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:DatabasePassword", name, None, opts)
        servers = [c for _, c in args.nodes] or [args.postgres]
        targets = pulumi.Output.all(*[c.name for _, c in args.nodes]).apply(
            lambda names: " ".join(f"{url}|{n}" for (url, _), n in zip(args.nodes, names))) \
            if args.nodes else args.postgres.name
        self.switch = command.local.Command(
            f"{name}-switch", create=SWITCH, stdin=pulumi.Output.secret(args.password),
            environment={"DOCKER_HOST": args.host_url, "POSTGRES": targets, "PGBOUNCER": args.pgbouncer.name,
                         **({"BOUNCER_HOST": args.bouncer_host_url} if args.bouncer_host_url else {})},
            # A replaced server starts with the last delivered password (the live volume) and gets
            # it again; a new password runs the switch (its stdin changed).
            triggers=[*(c.id for c in servers), args.pgbouncer.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*servers, args.pgbouncer]))
        self.register_outputs({})
