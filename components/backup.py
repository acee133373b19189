"""BackupRepository: pgBackRest's repository on another host of the stack (issue #27), in a
container of the PostgreSQL image (pgBackRest is in it) running `pgbackrest server` over TLS, with
the repository on a protected volume that outlives the container, and cron running the plan's
backup schedule. Backups run here and read the
db host's data through the agent in the PostgreSQL container (tunestack/plan/backupserver.py).

Once both sides run, a command on this host creates the stanza (idempotent) and takes the first
full backup when the repository holds none, so point-in-time recovery works from the first `up`."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from tunestack.backup.pgbackrest import DB_CONNECT_EXIT, DEFAULT_CONFIG, LOCK_HELD_EXIT
from tunestack.plan.backupserver import KEY_FILE
from tunestack.plan.memory import ContainerLimit
from tunestack.render import CONTAINER_BACKUP

from ._container import ContainerSpec, Publish, data_volume, service_container

CRON_FILE = "/etc/cron.d/tunestack-backup"   # the schedule (render: backup.cron); cron runs in the image

# The stanza (idempotent) and a first full backup when the repository holds none. As postgres in
# the container that runs backups ($CONTAINER on $DOCKER_HOST); inputs as environment only.
# A primary's archive-push can hold the stanza's lock when stanza-create starts (exit 50, the same
# case as PgBackRest.ensure_stanza), and a server can refuse a connection for a moment (exit 56: CI
# saw it once in a full run, never alone): both retried once a second, for at most 60 tries; any
# other exit ends it with pgBackRest's code and words.
BACKUP_STANZA = (
    'set -e; run() { docker exec -u postgres "$CONTAINER" pgbackrest --stanza="$STANZA" --log-level-console=warn "$@"; }; '
    f'tries=0; until run stanza-create; do rc=$?; tries=$((tries + 1)); '
    f'case "$rc" in {LOCK_HELD_EXIT}|{DB_CONNECT_EXIT}) ;; *) exit "$rc" ;; esac; '
    f'if [ "$tries" -ge 60 ]; then exit "$rc"; fi; echo "stanza-create: exit $rc, again in 1 s" >&2; sleep 1; done; '
    'if run --output=json info | grep -q \'"label"\'; then echo "stanza $STANZA: a backup is there"; '
    'else run --type=full backup; echo "stanza $STANZA: first full backup taken"; fi')


@dataclass
class BackupRepositoryArgs:
    provider: docker.Provider                 # the repository host's engine
    network: pulumi.Input[str]
    image: pulumi.Input[str]                  # the PostgreSQL image's id on that host
    host_url: str                             # its DOCKER_HOST, for the stanza command
    conf: str                                 # pgbackrest.conf, the repository side (render_container_bases)
    limit: ContainerLimit
    port: int
    publish_address: str                      # the repository host's private address
    agents: dict[str, str]                    # name → address of each database agent it reaches
    stanza: str
    cron: str                                 # the backup schedule (render_container_bases: backup.cron)
    tls_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)   # certificate, key, CA
    database: list[pulumi.Resource] = field(default_factory=list)   # what archives and serves the agent


class BackupRepository(pulumi.ComponentResource):
    def __init__(self, name: str, args: BackupRepositoryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:BackupRepository", name, None, opts)
        self.volume = data_volume(self, args.provider, f"{name}-data")
        self.container = service_container(self, args.provider, args.network, ContainerSpec(
            name=name,
            image=args.image,
            limit=args.limit,
            entrypoint=["/usr/bin/tini", "--", "/usr/local/bin/tunestack-backup-repo"],
            files={DEFAULT_CONFIG: args.conf, CRON_FILE: args.cron, **args.tls_files},
            secret_files={KEY_FILE},
            volumes=[(self.volume, CONTAINER_BACKUP.backup_dir)],
            healthcheck=["CMD", "pgbackrest", "server-ping", "localhost"],
            publish=[Publish(args.port, args.publish_address)],
            hosts=args.agents,
        ))
        self.stanza = command.local.Command(
            f"{name}-stanza", create=BACKUP_STANZA,
            environment={"DOCKER_HOST": args.host_url, "CONTAINER": self.container.name, "STANZA": args.stanza},
            triggers=[self.container.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container, *args.database]))
        self.register_outputs({"container": self.container.name, "volume": self.volume.name})
