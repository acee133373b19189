"""PostgresServer: the tuned postgresql.conf, roles with per-role timeouts, data on a protected volume.

Settings and role timeouts arrive live (reload, no restart; see _live.py). Only the settings that
PostgreSQL reads at start, pg_hba.conf and the passwords are the container's own: changing one of
them replaces the container, which is the graceful restart such a change needs anyway.

A major version change is not such a restart: a server refuses a data directory of another major
(PostgreSQL docs, pg_upgrade), and the old container would already be gone. So before the
container is created or replaced, a guard reads the data volume's PG_VERSION and fails `pulumi up`
when it names another major, leaving the running server as it is (README: major upgrades)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from tunestack.plan.memory import ContainerLimit
from tunestack.plan.backupserver import KEY_FILE as BACKUP_KEY_FILE
from tunestack.plan.tls import KEY_FILE
from tunestack.backup.pgbackrest import DEFAULT_CONFIG
from tunestack.render import CONTAINER_BACKUP, render_text

from .backup import BACKUP_STANZA, CRON_FILE
from ._container import ContainerSpec, Publish, data_volume, service_container
from ._live import LIVE_DIR, live_files, live_volume

DATA_DIR = "/var/lib/tunestack/postgres"
SECRETS = "/etc/tunestack/secrets"
# No trust: the superuser only as the OS user postgres on the container's socket; every network
# connection (PgBouncer, migrations, other hosts) with SCRAM. The private network's subnet is
# Docker's to choose, so the address is not narrowed here; published ports are.
HBA = render_text("pg_hba.conf.j2", local_stack=False, ident_map=None, clients="all")
HBA_SSL_ONLY = render_text("pg_hba.conf.j2", local_stack=False, ident_map=None, clients="all", ssl_only=True)
# Reads PG_VERSION from the data volume with the image itself (no network, read-only mount); a
# volume without one is a new cluster. Inputs come as environment, never into the script's text.
MAJOR_GUARD = (
    'found=$(docker run --rm --pull never --network none -v "$VOLUME:/d:ro" --entrypoint cat "$IMAGE" '
    '/d/pgdata/PG_VERSION 2>/dev/null || true); '
    'if [ -n "$found" ] && [ "$found" != "$MAJOR" ]; then '
    'echo "the data on volume $VOLUME is PostgreSQL $found; the stack names $MAJOR. A server cannot open '
    'the data directory of another major: the running server was left as it is. Put postgres.version back to '
    '$found, or upgrade with pg_upgrade first (README: PostgreSQL major upgrades)." >&2; exit 1; fi; '
    'echo "data directory: PostgreSQL ${found:-(new)}; server: $MAJOR"')
REPOSITORY = CONTAINER_BACKUP.backup_dir   # the repository volume in the container


@dataclass
class PostgresServerArgs:
    provider: docker.Provider
    network: pulumi.Input[str]
    image: pulumi.Input[str]          # image id (StackImages.image_id)
    host_url: str                    # DOCKER_HOST of the db host, for the live files
    live_conf: str                   # the settings a reload applies (render_container_bases)
    roles_sql: str                   # per-role timeouts (render_plan), applied live
    start_conf: str                  # the container's postgresql.conf: start-only settings and the include
    limit: ContainerLimit
    port: int
    publish_address: str | None      # the host's private address, when clients live on other hosts
    superuser_password: pulumi.Output[str]
    migrator_password: pulumi.Output[str]
    jobs_password: pulumi.Output[str]
    major: int                       # the PostgreSQL major the image runs (postgres.version)
    tls_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)   # StackCertificates.files: TLS only
    backup_conf: str | None = None   # pgbackrest.conf when the stack archives (render_container_bases)
    stanza: str = ""                 # the plan's stanza
    backup_cron: str | None = None   # the schedule, run here when the repository is beside the server
    # A repository on another host (BackupRepository): the agent's certificate, key and CA, its
    # port published beside PostgreSQL's, and the repository server's name → address.
    backup_tls_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    backup_agent: Publish | None = None
    repository_server: tuple[str, str] | None = None
    # tunestack:monitoring: postgres_exporter's role (pg_monitor), its password and CONNECTION LIMIT.
    monitor_password: pulumi.Output[str] | None = None
    monitor_connections: int = 0


class PostgresServer(pulumi.ComponentResource):
    def __init__(self, name: str, args: PostgresServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:PostgresServer", name, None, opts)
        self.volume = data_volume(self, args.provider, f"{name}-data")
        self.live_volume = live_volume(self, args.provider, name)
        # The backups outlive the server and its data volume: a volume of their own, protected too
        # (with a repository on another host, that host's BackupRepository holds it).
        beside = args.backup_conf is not None and args.repository_server is None
        self.backup_volume = data_volume(self, args.provider, f"{name}-backups") if beside else None
        backup_files = {DEFAULT_CONFIG: args.backup_conf} if args.backup_conf else {}
        if beside and args.backup_cron:
            backup_files[CRON_FILE] = args.backup_cron
        self.major_guard = command.local.Command(
            f"{name}-major-guard", create=MAJOR_GUARD,
            environment={"DOCKER_HOST": args.host_url, "VOLUME": self.volume.name, "IMAGE": args.image,
                         "MAJOR": str(args.major)},
            triggers=[str(args.major)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.volume]))
        self.container = service_container(self, args.provider, args.network, ContainerSpec(
            name=name,
            image=args.image,
            limit=args.limit,
            command=["postgres", "-c", "config_file=/etc/tunestack/postgresql.conf",
                     "-c", "hba_file=/etc/tunestack/pg_hba.conf"],
            # The image's entrypoint (images/postgres) initialises the cluster once, then at every
            # start applies bootstrap.sql (roles, passwords from the secret files, grants) and the
            # last delivered roles.sql. The app role's password is not among these uploads: it
            # arrives live (DatabasePassword), so that rotating it never restarts the server.
            files={"/etc/tunestack/postgresql.conf": args.start_conf,
                   "/etc/tunestack/pg_hba.conf": HBA_SSL_ONLY if args.tls_files else HBA,
                   **args.tls_files,
                   f"{SECRETS}/postgres-password": args.superuser_password,
                   f"{SECRETS}/migrator-password": args.migrator_password,
                   f"{SECRETS}/jobs-password": args.jobs_password, **backup_files, **args.backup_tls_files,
                   **({f"{SECRETS}/monitor-password": args.monitor_password} if args.monitor_password else {})},
            secret_files={f"{SECRETS}/postgres-password", f"{SECRETS}/migrator-password",
                          f"{SECRETS}/jobs-password", f"{SECRETS}/monitor-password", KEY_FILE, BACKUP_KEY_FILE},
            envs=[f"PGDATA={DATA_DIR}/pgdata"]
            + ([f"TUNESTACK_MONITOR_CONNECTIONS={args.monitor_connections}"] if args.monitor_password else []),
            volumes=[(self.volume, DATA_DIR), (self.live_volume, LIVE_DIR)]
            + ([(self.backup_volume, REPOSITORY)] if self.backup_volume else []),
            healthcheck=["CMD", "pg_isready", "-h", "127.0.0.1", "-p", str(args.port)],
            publish=([Publish(args.port, args.publish_address)] if args.publish_address else [])
            + ([args.backup_agent] if args.backup_agent else []),
            hosts=dict([args.repository_server]) if args.repository_server else {},
            shm_bytes=args.limit.shm_bytes,
            stop_seconds=120,   # fast shutdown checkpoints first: give it time, never crash recovery
            depends_on=[self.major_guard],   # the check runs, and passes, before any replacement
        ))
        self.live = live_files(self, name, args.host_url, self.container,
                               {"postgresql.conf": args.live_conf, "roles.sql": args.roles_sql})
        self.backup_stanza = command.local.Command(
            f"{name}-backup-stanza", create=BACKUP_STANZA,
            environment={"DOCKER_HOST": args.host_url, "CONTAINER": self.container.name, "STANZA": args.stanza},
            triggers=[self.container.id],
            # archive_command arrives live: the first backup waits for its WAL to be archived
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container, *self.live]),
        ) if beside else None
        self.register_outputs({"container": self.container.name, "volume": self.volume.name})
