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

from dataclasses import dataclass

import pulumi
import pulumi_command as command
import pulumi_docker as docker

# The password comes on stdin into a shell variable and reaches each container through printf (a
# builtin): in no argument or environment. PgBouncer resumes whatever happens after its pause.
SWITCH = ('set -eu; pw=$(cat); docker exec "$PGBOUNCER" tunestack-hold pause >/dev/null; '
          'trap \'docker exec "$PGBOUNCER" tunestack-hold resume >/dev/null\' EXIT; '
          'printf "%s" "$pw" | docker exec -i "$POSTGRES" tunestack-live app-password; '
          'printf "%s" "$pw" | docker exec -i "$PGBOUNCER" tunestack-live app-password')


@dataclass
class DatabasePasswordArgs:
    host_url: str                     # DOCKER_HOST of the db machine (PostgreSQL and PgBouncer)
    postgres: docker.Container
    pgbouncer: docker.Container
    password: pulumi.Output[str]      # what the servers take: dbPassword, or during a rotation dbPasswordPrevious


class DatabasePassword(pulumi.ComponentResource):
    def __init__(self, name: str, args: DatabasePasswordArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:DatabasePassword", name, None, opts)
        self.switch = command.local.Command(
            f"{name}-switch", create=SWITCH, stdin=pulumi.Output.secret(args.password),
            environment={"DOCKER_HOST": args.host_url, "POSTGRES": args.postgres.name,
                         "PGBOUNCER": args.pgbouncer.name},
            # A replaced server starts with the last delivered password (the live volume) and gets
            # it again; a new password runs the switch (its stdin changed).
            triggers=[args.postgres.id, args.pgbouncer.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.postgres, args.pgbouncer]))
        self.register_outputs({})
