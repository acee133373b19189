"""What a plan is: every setting by service, the hosts, budgets, rollout splits and replicas."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..postgres.inputs import PgInputs
from ..stackfile.spec import StackSpec
from .app import JOBS_ROLE
from .budgets import Budget
from .memory import ContainerLimit
from .placement import Placement
from .rollout import Replica, Split
from .sampling import Sampling
from .setting import Setting


@dataclass
class HostPlan:
    name: str
    roles: tuple[str, ...]
    count: int
    cpus: int
    memory_bytes: int
    shape_source: str
    addresses: tuple[str, ...]
    memory_items: list[tuple[str, int]] = field(default_factory=list)  # worst case per service

    def to_json(self) -> dict:
        return {"name": self.name, "roles": list(self.roles), "count": self.count, "cpus": self.cpus,
                "memory_bytes": self.memory_bytes, "shape_source": self.shape_source,
                "addresses": list(self.addresses),
                "memory_items": [{"item": k, "bytes": v} for k, v in self.memory_items]}


@dataclass
class Plan:
    stack: str
    spec: StackSpec
    placement: Placement
    hosts: list[HostPlan]
    postgres: dict[str, Setting]
    postgres_roles: dict[str, dict[str, Setting]]
    pgbouncer: dict[str, Setting]
    service_limits: dict[str, dict[str, Setting]]   # per server: LimitNOFILE (and OOMScoreAdjust)
    redis: dict[str, dict[str, Setting]]
    app: dict[str, Setting]
    web_env: dict[str, Setting]
    jobs_env: dict[str, Setting]
    sampling: Sampling
    rollout: dict[str, Setting]
    loadbalancer: dict[str, Setting]
    budgets: list[Budget]
    alerts: list[dict]
    warnings: list[str]
    containers: dict[str, list[ContainerLimit]]   # per host name
    splits: dict[int, Split]                      # weight → replicas and LB weights
    replicas: list[Replica]
    kernel: dict[str, dict[str, Setting]] = field(default_factory=dict)   # per service: sysctls it needs
    postgres_inputs: PgInputs | None = None       # what pgtune's recommenders were given (memory, cores, connections)
    host_kernel: dict[str, dict[str, Setting]] = field(default_factory=dict)   # per host: sysctls and THP
    migrate_env: dict[str, Setting] = field(default_factory=dict)   # the app image's migrate command
    pgbouncer_users: dict[str, dict[str, Setting]] = field(default_factory=dict)   # [users]: per-user caps
    tls: dict = field(default_factory=dict)   # service → tls.ServerTls: the servers that serve TLS only
    backup: dict[str, Setting] = field(default_factory=dict)   # the backup policy (plan/backup.py)
    ha: dict[str, Setting] = field(default_factory=dict)   # Patroni and etcd, with replicas (plan/ha.py)
    queue_ha: dict[str, Setting] = field(default_factory=dict)   # the queue's replicas and Sentinels (plan/queueha.py)
    monitoring: dict[str, Setting] = field(default_factory=dict)   # Prometheus' targets and size (plan/monitoring.py)

    @property
    def pgbouncer_service(self) -> dict[str, Setting]:
        return self.service_limits["pgbouncer"]

    jobs_role = JOBS_ROLE   # the database role job processes connect as

    @property
    def target(self) -> str:
        return self.placement.target

    def digest(self) -> str:
        """12 hex digits of the plan's JSON: the same plan, the same digest (status, advise)."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True, default=str).encode()).hexdigest()[:12]

    @property
    def violations(self) -> list[Budget]:
        return [b for b in self.budgets if not b.ok]

    def ports(self) -> dict[str, int]:
        """Every listening port of the stack by service."""
        return {"postgres": self.postgres["port"].value, "pgbouncer": self.pgbouncer["listen_port"].value,
                "redis-cache": self.redis["cache"]["port"].value, "redis-queue": self.redis["queue"]["port"].value,
                "web": self.app["port"].value, "haproxy": self.loadbalancer["port"].value}

    def entry_url(self) -> str:
        """Where users reach the stack from this machine: the load balancer's published address, or
        loopback when it binds every address."""
        bind = self.loadbalancer["bind"].value
        host = self.placement["haproxy"].publish or ("127.0.0.1" if bind in ("0.0.0.0", "*", "::") else bind)
        return f"http://{host}:{self.loadbalancer['port'].value}/"

    def container(self, host: str, service: str) -> ContainerLimit | None:
        return next((c for c in self.containers[host] if c.service == service), None)

    def sections(self) -> dict[str, dict[str, Setting]]:
        """Every setting by service, in the order they are shown and diffed."""
        out = {"postgresql.conf": self.postgres}
        for role, settings in self.postgres_roles.items():
            out[f"postgres role {role}"] = settings
        out["pgbouncer.ini"] = self.pgbouncer
        for user, settings in self.pgbouncer_users.items():
            out[f"pgbouncer user {user}"] = settings
        for service, settings in self.service_limits.items():
            out[f"limits {service}"] = settings
        for role, settings in self.redis.items():
            out[f"redis {role}"] = settings
        out["app"] = self.app
        out["web env"] = self.web_env
        out["jobs env"] = self.jobs_env
        out["migrate env"] = self.migrate_env
        out["rollout"] = self.rollout
        out["loadbalancer"] = self.loadbalancer
        for service, settings in self.kernel.items():
            out[f"kernel {service}"] = settings
        for host, settings in self.host_kernel.items():
            out[f"host kernel {host}"] = settings
        out["backup"] = self.backup
        if self.ha:
            out["ha"] = self.ha
        if self.queue_ha:
            out["queue ha"] = self.queue_ha
        if self.monitoring and self.monitoring["enabled"].value:
            out["monitoring"] = self.monitoring
        return out

    def to_json(self) -> dict:
        return {
            "stack": self.stack,
            "target": self.target,
            "hosts": [h.to_json() for h in self.hosts],
            "settings": {name: {k: s.to_json() for k, s in section.items()}
                         for name, section in self.sections().items()},
            "sampling_rules": list(self.sampling.rules),
            "budgets": [b.to_json() for b in self.budgets],
            "containers": {h: [c.to_json() for c in cs] for h, cs in self.containers.items()},
            "rollout_splits": {str(w): vars(split) for w, split in self.splits.items()},
            "replicas": [r.to_json() for r in self.replicas],
            "alerts": self.alerts,
            "warnings": self.warnings,
            "tls": {service: server.to_json() for service, server in self.tls.items()},
        }
