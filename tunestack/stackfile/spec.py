"""The validated content of a stack file, as typed values. Built only by `stackfile.load`.

The defaults of every optional stack-file key are the field defaults here, and nowhere else: the
loader passes only the keys a file sets. `StackSpec.given` remembers which those were, so the plan
can say whether a value came from the stack file or from a default.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..choices import MONITORING_PORTS
from ..units import MIB


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})   # a host at these addresses is this machine


@dataclass(frozen=True)
class HostSpec:
    name: str
    roles: tuple[str, ...]
    count: int
    cpus: int
    memory_bytes: int
    storage: str
    shape_source: str          # "stack file", "aws describe_instance_types", "offline table (…)"
    instance_type: str | None = None
    addresses: tuple[str, ...] = ()
    ssh_user: str | None = None
    threads_per_core: int = 1      # hardware threads per physical core
    instance_storage: str | None = None   # an instance type's local disks ("nvme", "ssd"), "" for none (EBS only)

    @property
    def physical_cores(self) -> int:
        return max(1, self.cpus // self.threads_per_core)

    @property
    def is_local(self) -> bool:
        return not self.addresses or set(self.addresses) <= LOOPBACK

    @property
    def address(self) -> str:
        return self.addresses[0] if self.addresses else "127.0.0.1"


@dataclass(frozen=True)
class PostgresSpec:
    version: int
    workload: str
    db_size: str = "mid_ram"
    built_with: tuple[str, ...] = ()   # optional libraries the server has (choices.PG_BUILD_FEATURES)
    wal_rate_bytes: int | None = None  # WAL per second at peak; None: the rate the workload implies
    wal_disk_bytes: int | None = None  # the pg_wal disk, which max_wal_size must leave room on
    port: int = 5432
    admin_connections: int = 10
    statement_timeout_ms: int | None = None
    lock_timeout_ms: int | None = None
    idle_in_transaction_timeout_ms: int = 60_000
    slow_query_ms: int = 500
    overrides: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PgBouncerSpec:
    pool_mode: str
    version: tuple[int, int] = (1, 18)
    port: int = 6432
    default_pool_size: int | None = None
    max_client_conn: int | None = None


DEFAULT_REDIS_PORTS = {"cache": 6379, "queue": 6380}
DEFAULT_STORAGE = "ssd"


@dataclass(frozen=True)
class RedisInstanceSpec:
    role: str            # cache | queue
    memory_bytes: int    # memory set aside for the instance; maxmemory is a share of it
    policy: str
    port: int


@dataclass(frozen=True)
class JobsSpec:
    concurrency: int = 5
    processes: int = 1
    memory_per_process_bytes: int = 512 * MIB
    redis: str = "queue"
    # The jobs database role's own timeouts (None: the planner's defaults); web requests keep theirs.
    statement_timeout_ms: int | None = None
    lock_timeout_ms: int | None = None


# Puma's default is 5 threads, Rails' generated puma.rb 3 (GVL contention); Gunicorn gthread 4.
DEFAULT_THREADS = {"rails": 3, "python": 4, "go": 20, "node": 8}


@dataclass(frozen=True)
class AppSpec:
    framework: str       # rails | python
    threads: int
    memory_per_worker_bytes: int
    jobs: JobsSpec = JobsSpec()
    max_workers: int | None = None
    port: int = 8000
    lb_port: int = 8080
    request_timeout_ms: int = 30_000
    db_pool_headroom: int = 2
    jemalloc: bool = True
    ruby: str | None = None      # Ruby version of the app (rails); None: the host's, else Debian 12's
    ruby_source: str = "stack file"   # where `ruby` came from (the planner may fill it from the host)
    rails: str | None = None     # Rails version (rails); None: Debian 12's
    go_conn_max_lifetime_ms: int = 30 * 60_000   # go: database/sql ConnMaxLifetime
    go_conn_max_idle_ms: int = 5 * 60_000        # go: ConnMaxIdleTime
    node_max_old_space_bytes: int | None = None  # node: V8 heap; None: 75 % of memory_per_worker
    node_uses_threadpool: bool = False           # node: the app leans on libuv's pool (fs, crypto, dns)

    @property
    def canary_port(self) -> int:
        """The local stack runs its canary beside the stable app, on the app port + 100."""
        return self.port + 100


@dataclass(frozen=True)
class SamplingRule:
    path: str
    rate: float
    share: float | None = None


@dataclass(frozen=True)
class TrafficSpec:
    peak_rps: float
    tracing_per_month: int
    tracing_unit: str = "transactions"
    spans_per_transaction: float = 1.0
    profiles_per_month: int = 0
    peak_jobs_per_second: float | None = None   # None: one job per request (the reference apps' pattern)
    db_time_ms: float | None = None             # database time per request at peak: Little's law sizes the pool
    health_paths: tuple[str, ...] = ("/health", "/healthz", "/up")
    sampling_rules: tuple[SamplingRule, ...] = ()


@dataclass(frozen=True)
class GatesSpec:
    max_error_rate: float = 0.01
    max_p95_ms: float = 200.0
    min_requests: int = 50


@dataclass(frozen=True)
class RolloutSpec:
    steps: tuple[int, ...] = (10, 25, 50, 100)
    bake_ms: int = 300_000
    max_surge_percent: int = 25
    gates: GatesSpec = GatesSpec()
    canary_weight: int = 0   # the rollout state: % of traffic on the canary image
    canary_replicas: int | None = None   # replicas a Docker rollout started on the canary (None: by weight)
    canary_env: tuple[tuple[str, str], ...] = ()   # extra environment of the canary replicas (rollout --env)


@dataclass(frozen=True)
class BackupSpec:
    """tunestack:backup (plan/backup.py has the defaults' reasons)."""
    repository_kind: str = ""            # host | path | s3; "" = the default placement
    repository: str = ""                 # the host's name, the path, or the bucket
    s3_region: str = ""
    s3_endpoint: str = ""
    allow_same_host: bool = False
    full: str = "weekly"
    retention_full: int = 2
    archive_timeout_ms: int = 60_000
    compress: str = "lz4"
    data_bytes: int | None = None
    wal_per_day_bytes: int | None = None
    repository_disk_bytes: int | None = None


@dataclass(frozen=True)
class HaSpec:
    """postgres.replicas, rpo, rto and where etcd runs (plan/ha.py has the defaults' reasons)."""
    replicas: int = 0                    # standbys beside the primary; 0 = one server, no Patroni
    rpo_bytes: int = 0                   # 0 = synchronous; else the lag a failover candidate may have
    rto_ms: int = 30_000                 # the longest a lost primary may leave the stack without one
    etcd_hosts: tuple[str, ...] = ()     # host names, one member each; () = the planner places them
    patroni_port: int = 8008             # Patroni's REST API (its default); + node index on a shared host
    etcd_port: int = 2379                # etcd's client port (its default); peers on the next one

    @property
    def enabled(self) -> bool:
        return self.replicas > 0

    @property
    def nodes(self) -> int:
        return self.replicas + 1 if self.replicas else 0

    def node_ports(self, pg_port: int, shared: bool) -> list[tuple[int, int]]:
        """(PostgreSQL, Patroni REST) port of each node. On one shared machine the load balancer's
        primary service keeps postgres.port and node i listens one above it plus i; on a machine of
        its own each node keeps the defaults."""
        if shared:
            return [(pg_port + 1 + i, self.patroni_port + i) for i in range(self.nodes)]
        return [(pg_port, self.patroni_port)] * self.nodes

    def replica_service_port(self, pg_port: int, shared: bool) -> int:
        """The load balancer's read-only service: above the nodes on a shared machine, else next to
        the primary service."""
        return pg_port + 1 + (self.nodes if shared else 0)


SENTINELS = 3   # Redis Sentinel docs: three Sentinels on distinct machines is the smallest safe setup


@dataclass(frozen=True)
class QueueHaSpec:
    """redis.queue.replicas and where Sentinel listens (plan/queueha.py has the reasons)."""
    replicas: int = 0                    # queue Redis replicas beside its master; 0 = one instance, no Sentinel
    sentinel_port: int = 26379           # Sentinel's default port; + index on a shared machine

    @property
    def enabled(self) -> bool:
        return self.replicas > 0

    @property
    def nodes(self) -> int:
        return self.replicas + 1 if self.replicas else 0

    def node_ports(self, queue_port: int, shared: bool) -> list[int]:
        """Each queue node's port: on one shared machine node i listens on redis.queue.port + i; on
        machines of their own every node keeps redis.queue.port."""
        return [queue_port + (i if shared else 0) for i in range(self.nodes)]

    def sentinel_ports(self, shared: bool) -> list[int]:
        return [self.sentinel_port + (i if shared else 0) for i in range(SENTINELS if self.enabled else 0)]


@dataclass(frozen=True)
class MonitoringSpec:
    """tunestack:monitoring (plan/monitoring.py has the defaults' reasons)."""
    retention_ms: int = 15 * 86_400_000      # Prometheus' own default (--storage.tsdb.retention.time)
    scrape_interval_ms: int = 15_000         # Prometheus' documented example interval
    disk_bytes: int | None = None            # the disk given to Prometheus; None = the plan sizes it
    receiver: str = ""                       # Alertmanager's webhook URL; "" = alerts stay in Alertmanager
    targets: tuple[str, ...] = ()            # extra scrape targets, address:port on private networks
    enabled: bool = False                    # the section is given: Prometheus and the rest are deployed
    ports: tuple[tuple[str, int], ...] = MONITORING_PORTS   # each server's port (each one's documented default)

    def port(self, server: str) -> int:
        return dict(self.ports)[server]


@dataclass(frozen=True)
class StackSpec:
    name: str
    path: str
    hosts: tuple[HostSpec, ...]
    postgres: PostgresSpec
    pgbouncer: PgBouncerSpec
    redis_cache: RedisInstanceSpec
    redis_queue: RedisInstanceSpec
    app: AppSpec
    traffic: TrafficSpec
    rollout: RolloutSpec
    images: dict[str, str] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()   # which password keys the file sets as Pulumi secrets
    given: frozenset[str] = frozenset()  # dotted key paths the file sets, e.g. "postgres.port"
    registry: tuple[str, str] | None = None   # (address, username) for private images
    backup: BackupSpec = BackupSpec()
    ha: HaSpec = HaSpec()
    queue_ha: QueueHaSpec = QueueHaSpec()
    monitoring: MonitoringSpec = MonitoringSpec()

    def source_of(self, key_path: str) -> str:
        """'stack file' when the file sets `key_path` (e.g. "app.threads"), else 'default'."""
        return "stack file" if key_path in self.given else "default"

    def missing_images(self) -> list[str]:
        """Images the Pulumi program needs that the stack file does not pin."""
        needed = ["postgres", "pgbouncer", "redis", "haproxy", "app"]
        if self.rollout.canary_weight:
            needed.append("canary_app")
        if self.monitoring.enabled and not (self.ha.enabled or self.queue_ha.enabled):
            needed.append("monitoring")   # Prometheus, Alertmanager and the exporters (plan/monitoring.py)
        return [k for k in needed if not self.images.get(k)]

    def host_with(self, role: str) -> HostSpec:
        return next(h for h in self.hosts if role in h.roles)

    def app_hosts(self) -> list[HostSpec]:
        return [h for h in self.hosts if "app" in h.roles]
