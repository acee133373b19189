"""Stage 2: a validated stack → one plan. The only place a setting is computed.

Each area is a small pure stage in its own module; `build_plan` runs them in dependency order:
placement, memory per host, app workers and pools, connections (fleet → PgBouncer →
max_connections), PostgreSQL through the pgtune recommenders, PgBouncer, Redis, sampling, the app's
environment, rollout splits, the load balancer, then budgets and alerts from the final values.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import BudgetError, Problem, StackError
from ..stackfile.spec import StackSpec
from ..units import plural
from .alerts import alert_rules
from .pgalerts import plan_postgres_alerts
from ..postgres.catalog import catalog
from .app import JOBS_ROLE, AppSizing, Endpoints, app_settings, common_env, jobs_env, migrate_env, size_app, web_env
from .budgets import (fleet_budget, memory_budget, one_worker_budget, server_budget, share_budget,
                      tracing_budget)
from .connections import fleet, plan_connections
from .kernel import (host_kernel, kernel_settings, listen_backlogs, nr_hugepages, reserved_huge_pages,
                     service_limits)
from .loadbalancer import loadbalancer_settings
from .memory import (AppProcesses, container_limits, cpu_shares, whole_cores, memory_items, overcommit_warning, postgres_memory_note,
                     share_host, share_shortfalls)
from .model import HostPlan, Plan
from .pgbouncer import pgbouncer_settings, user_caps
from .placement import Placement, container_name, place, runs_pgbouncer
from .postgres import pg_inputs, postgres_settings, role_settings, worst_case
from .redis import redis_settings
from .ruby import DEFAULT_RUBY
from .rollout import beside, canary_env_conflicts, fixed_split, place_replicas, plan_splits, replica_warning, rollout_settings
from .sampling import plan_sampling
from .backup import with_backup
from .ha import connection_floor, ha_memory_items, ha_shares, with_ha
from .monitoring import MONITOR_CONNECTIONS, monitoring_cpus, with_monitoring
from .queueha import queue_ha_extra_memory, queue_ha_shares, with_queue_ha
from .tls import with_tls
from .timeouts import chain_budget, connect_timeout, queue_wait_timeout, timeout_chain


@dataclass(frozen=True)
class _Hosts:
    """Where everything runs and what each host gives it: memory and CPU shares, the app's sizing
    per app host, and the fleet of database clients."""
    where: Placement
    shares: dict
    cpus: dict
    sizings: dict
    fleet: object
    pg_cores: int


def _size_hosts(spec: StackSpec, target: str) -> _Hosts:
    app, where = spec.app, place(spec, target)
    db, app_hosts = spec.host_with("db"), spec.app_hosts()
    redis_specs = (spec.redis_cache, spec.redis_queue)
    redis_bytes = sum(r.memory_bytes for r in redis_specs)
    shares = queue_ha_shares(spec, ha_shares(spec, {h.name: share_host(h, redis_bytes) for h in spec.hosts}))
    short = [share_budget(h.name, h.memory_bytes, *gap, redis_bytes) for h in spec.hosts
             for gap in share_shortfalls(h, shares[h.name])]
    if short:  # nothing can be planned on a host whose memory is spoken for
        raise BudgetError(spec.name, short, spec.path)
    cpus = {h.name: cpu_shares(h, tuple(r.role for r in redis_specs), app.jobs.processes, app.framework,
                               runs_pgbouncer(spec, h, where.docker), monitoring_cpus(spec, h, where.docker))
            for h in spec.hosts}
    # In containers, per-core rules see the container's CPU limit, not the host's cores.
    capped = where.docker
    sizings = {h.name: size_app(app, h, shares[h.name]["app"], cpus[h.name]["web"] if capped else None)
               for h in app_hosts}
    # Replicas that publish nothing are replaced new-first, and the engine deletes the old
    # generations only at the end: during an app change every replica runs twice.
    surge = 100 if capped and all(r.publish is None for r in where.replicas) else spec.rollout.max_surge_percent
    clients = fleet({n: s.per_host_clients for n, s in sizings.items()}, {h.name: h.count for h in app_hosts}, surge,
                    where.canary.host.name if where.docker and where.canary else None)
    pg_cores = whole_cores(cpus[db.name]["postgres"]) if capped else db.cpus
    return _Hosts(where, shares, cpus, sizings, clients, pg_cores)


def direct_connections(spec: StackSpec) -> int:
    """Connections that reach PostgreSQL without PgBouncer: the stack file's admin_connections, and
    postgres_exporter's where monitoring runs (its role's CONNECTION LIMIT)."""
    return spec.postgres.admin_connections + (MONITOR_CONNECTIONS if spec.monitoring.enabled else 0)


def _budgets(spec: StackSpec, hs: _Hosts, conns, postgres: dict, sampling) -> list:
    pg, first = spec.postgres, hs.sizings[spec.app_hosts()[0].name]
    max_connections = int(postgres["max_connections"].value)
    reserved = int(postgres["reserved_connections"].value) if "reserved_connections" in postgres else 0
    budgets = [fleet_budget(hs.fleet, conns, first_host_text(first, spec.app)),
               server_budget(conns, direct_connections(spec), max_connections, reserved)]
    return budgets + [b for b in [tracing_budget(sampling.monthly_units, spec.traffic.tracing_per_month,
                                                 spec.traffic.tracing_unit)] if b]


def build_plan(spec: StackSpec, pg_version: int | None = None, strict: bool = True, target: str = "hosts",
               host_ruby: str | None = None) -> Plan:
    """Plan a validated stack. `pg_version` re-plans for another major (e.g. the installed one);
    `target` is "hosts" (packages on hosts) or "docker" (containers); see placement.py. With
    `strict`, a broken budget raises BudgetError; otherwise it is returned in `violations`."""
    spec = as_installed(spec, pg_version, host_ruby)
    source_of, pg, app = spec.source_of, spec.postgres, spec.app
    hs = _size_hosts(spec, target)
    where, shares, sizings, clients = hs.where, hs.shares, hs.sizings, hs.fleet
    db, app_hosts, redis_specs = spec.host_with("db"), spec.app_hosts(), (spec.redis_cache, spec.redis_queue)
    first, pg_mem = sizings[app_hosts[0].name], shares[db.name]["postgres"]
    conns = plan_connections(spec.pgbouncer, replace(db, cpus=hs.pg_cores), clients.with_surge, direct_connections(spec),
                             pg.workload, spec.traffic, connection_floor(spec))
    inputs = pg_inputs(pg, hs.pg_cores, db.storage, pg_mem, conns.max_connections.value,
                       postgres_memory_note(db, shares[db.name]), docker=where.docker)
    postgres = reserved_huge_pages(postgres_settings(inputs, pg, where["postgres"], where.listen_why,
                                                     conns.max_connections, pg_mem, spec.path, source_of))
    roles = role_settings(pg, app.request_timeout_ms, app.jobs)
    chain = timeout_chain(app.request_timeout_ms, roles["app"]["statement_timeout"].value)
    bouncer = pgbouncer_settings(spec.pgbouncer, conns, where["pgbouncer"], where.listen_why, queue_wait_timeout(chain),
                                 pg.idle_in_transaction_timeout_ms, source_of, docker=where.docker)
    redis = {i.role: redis_settings(i, where[f"redis-{i.role}"].listen, where.listen_why, source_of) for i in redis_specs}
    sampling = plan_sampling(spec.traffic)
    app_plan = app_settings(app, first, source_of)
    ends = endpoints(spec, where)
    common = common_env(app, spec.pgbouncer, ends, roles["app"]["statement_timeout"].value,
                        roles["app"]["lock_timeout"].value, sampling, connect_timeout(chain))
    splits = plan_splits(spec.rollout, clients.app_hosts, where.canary is not None)
    fleet_threads = sum(sizings[h.name].processes * h.count for h in app_hosts) * app.threads
    warnings = plan_warnings(spec, sampling, sizings, replica_warning(clients.app_hosts, spec.rollout.steps,
                                                                      where.canary is not None))
    budgets = _budgets(spec, hs, conns, postgres, sampling)
    hosts, host_budgets = host_plans(spec, shares, sizings, worst_case(postgres, pg.version), where.docker)
    lb = loadbalancer_settings(app, where, fleet_threads, first.processes * app.threads, chain.queue_wait_ms,
                               spec.traffic.health_paths[0], source_of)
    budgets += chain_budget(chain, lb["timeout_server"].value)
    kernel = kernel_settings(listen_backlogs(int(postgres["max_connections"].value), bouncer["listen_backlog"].value,
                                             lb["maxconn"].value, app.framework))
    limits = service_limits(conns.nofile, lb["maxconn"].value, "cache" in db.roles)
    plan = with_monitoring(with_queue_ha(with_ha(with_backup(with_tls(Plan(
        stack=spec.name, spec=spec, placement=where, hosts=hosts, postgres=postgres, postgres_roles=roles,
        pgbouncer=bouncer, pgbouncer_users=user_caps(conns.pool.value, JOBS_ROLE), redis=redis, app=app_plan,
        service_limits=limits, sampling=sampling, host_kernel=host_kernels(spec, where, kernel, postgres, hosts),
        web_env=web_env(app, app_plan, common, source_of, first, where.app_bind),
        jobs_env=jobs_env(app, app_plan, common, source_of, ends, roles["jobs"], first),
        migrate_env=migrate_env(container_name(spec.name, "postgres") if where.docker else where["postgres"].reach,
                                pg.port),   # beside PostgreSQL: the db machine's private network for containers
        rollout=rollout_settings(spec.rollout, clients.app_hosts, clients.surge_hosts, splits, where, source_of),
        loadbalancer=lb, kernel=kernel, postgres_inputs=inputs, budgets=budgets + host_budgets,
        alerts=alert_rules(spec, bouncer["query_wait_timeout"].value, conns.max_client_conn.value,
                           redis["queue"]["maxmemory"].value, redis["cache"]["maxmemory"].value, clients.with_surge,
                           app_plan["web_db_pool"].value) + plan_postgres_alerts(postgres, roles, catalog(pg.version)),
        warnings=warnings,
        containers={h.name: with_sysctls(container_limits(h, shares[h.name], redis_specs, processes(
            spec, sizings.get(h.name)), hs.cpus[h.name]), kernel, limits) for h in spec.hosts},
        splits=splits, replicas=place_replicas(where, current_split(spec, splits, clients.app_hosts, where))))))))
    _check_canary_env(spec, plan)
    if strict and plan.violations:
        raise BudgetError(spec.name, plan.violations, spec.path)
    return plan


def _check_canary_env(spec: StackSpec, plan: Plan) -> None:
    clashes = canary_env_conflicts(dict(spec.rollout.canary_env), plan.web_env, plan.jobs_env)
    if clashes:
        raise StackError([Problem(spec.path, f"config → tunestack:canaryEnv → {key}", key,
                                  "a variable the plan does not set: the app's own (a feature flag)",
                                  f"remove {key}: the plan computes it for both tracks (plan --section 'web env')")
                          for key in clashes])


def host_kernels(spec: StackSpec, where: Placement, kernel: dict, postgres: dict, hosts: list[HostPlan]) -> dict:
    """Each host's kernel settings: somaxconn for the largest backlog among the services placed on
    it, huge pages for PostgreSQL's shared memory where huge_pages is wanted, overcommit by role."""
    pg = postgres
    huge = nr_hugepages(pg["shared_buffers"].value, pg["wal_buffers"].value, int(pg["max_connections"].value)) \
        if pg["huge_pages"].value in ("try", "on") else None
    out = {}
    storage_of = {h.name: h.storage for h in spec.hosts}
    for h in hosts:
        services = [s for s, spot in where.spots.items() if spot.host.name == h.name]
        services += ["web"] if "app" in h.roles else []
        somaxconn = max((kernel[s]["net.core.somaxconn"] for s in services if s in kernel),
                        key=lambda s: s.value, default=kernel["web"]["net.core.somaxconn"])
        out[h.name] = host_kernel(h.roles, h.memory_bytes, sum(v for _, v in h.memory_items), huge, somaxconn,
                                  storage_of[h.name])
    return out


def storage_warning(host) -> str | None:
    """A host that claims local NVMe on an instance type without instance storage: its disks are EBS
    volumes behind an NVMe interface (AWS docs, Amazon EBS and NVMe), and planning for local NVMe
    (effective_io_concurrency, random_page_cost) overstates them."""
    if host.storage != "nvme" or host.instance_storage != "":
        return None
    from ..stackfile.aws import offline_table

    sibling = host.instance_type.replace(".", "d.", 1)   # AWS names the local-disk variant with a d: r6i → r6id
    example = f" (e.g. {sibling})" if offline_table().get(sibling, {}).get("instance_storage") else ""
    return (f"host {host.name}: storage nvme, but {host.instance_type} has no instance storage (its NVMe devices "
            f"are EBS volumes); fix: storage: ssd, or an instance type with local NVMe{example}")


def plan_warnings(spec: StackSpec, sampling, sizings: dict[str, AppSizing], replicas: str | None) -> list[str]:
    warnings = [w for w in map(overcommit_warning, spec.hosts) if w] + list(sampling.warnings)
    if len({(s.workers, s.web_pool) for s in sizings.values()}) > 1:
        warnings.append("app hosts differ in shape; the env file uses the first host's workers")
    warnings += [storage_warning(h) for h in spec.hosts if storage_warning(h)]
    if spec.app.framework == "rails" and spec.app.ruby is None:
        warnings.append(f"app.ruby is not set: planned for Ruby {DEFAULT_RUBY} (Debian 12's), so YJIT stays off; "
                        "fix: set app.ruby to the Ruby the app runs, e.g. ruby: \"3.3\"")
    return warnings + ([replicas] if replicas else [])


def as_installed(spec: StackSpec, pg_version: int | None, host_ruby: str | None) -> StackSpec:
    """The stack re-planned for what a host runs: another PostgreSQL major (the installed one), and
    for a rails stack that names no Ruby, the host's Ruby."""
    if pg_version is not None and pg_version != spec.postgres.version:
        spec = replace(spec, postgres=replace(spec.postgres, version=pg_version))
    if host_ruby and spec.app.framework == "rails" and spec.app.ruby is None:
        spec = replace(spec, app=replace(spec.app, ruby=host_ruby, ruby_source="this host's Ruby (ruby -v)"))
    return spec


def with_sysctls(limits: list, kernel: dict, service_limits: dict) -> list:
    """Each container with the namespaced sysctls its service asks for (net.* are per network
    namespace) and its service's open-file limit (a container's ulimit)."""
    return [replace(c, sysctls=tuple((k, s.text) for k, s in kernel.get(c.service, {}).items() if k.startswith("net.")),
                    nofile=service_limits[c.service]["LimitNOFILE"].value if c.service in service_limits else 0)
            for c in limits]


def current_split(spec: StackSpec, splits: dict, total: int, where: Placement):
    """The rollout state: by canaryWeight alone, or (a Docker rollout under way) the canary replicas
    it started (or its one canary beside stable), weighted by canaryWeight."""
    if spec.rollout.canary_replicas is None:
        return splits[spec.rollout.canary_weight]
    if where.canary is not None:
        return beside(spec.rollout.canary_weight, spec.rollout.canary_replicas > 0)
    return fixed_split(total, spec.rollout.canary_replicas, spec.rollout.canary_weight)


def endpoints(spec: StackSpec, where: Placement) -> Endpoints:
    return Endpoints(where["pgbouncer"].reach, spec.pgbouncer.port, where["redis-queue"].reach,
                     spec.redis_queue.port, where["redis-cache"].reach, spec.redis_cache.port)


def first_host_text(first: AppSizing, app) -> str:
    return (f"{first.per_host_clients} ({plural(first.processes, 'web process', 'web processes')} × "
            f"{first.web_pool} pool + {plural(app.jobs.processes, 'job process', 'job processes')} × "
            f"{first.job_pool} pool)")


def processes(spec: StackSpec, sizing: AppSizing | None) -> AppProcesses | None:
    if sizing is None:
        return None
    jobs_bytes = spec.app.jobs.processes * sizing.jobs_process_bytes
    return AppProcesses(sizing.processes, sizing.memory_bytes - jobs_bytes, spec.app.jobs.processes, jobs_bytes)


def host_plans(spec: StackSpec, shares: dict, sizings: dict[str, AppSizing], pg_worst: tuple[int, str],
               docker: bool = False):
    """Each host's worst-case memory, item by item, and its budgets."""
    hosts, budgets = [], []
    ha_items, queue_items = ha_memory_items(spec, pg_worst), queue_ha_extra_memory(spec)
    for h in spec.hosts:
        sizing = sizings.get(h.name)
        app_item = (sizing.memory_text(spec.app), sizing.memory_bytes) if sizing else None
        items = (memory_items(h, pg_worst, (spec.redis_cache, spec.redis_queue), app_item,
                              runs_pgbouncer(spec, h, docker)) + ha_items.get(h.name, []) + queue_items.get(h.name, []))
        if sizing and sizing.processes < 1:
            budgets.append(one_worker_budget(h.name, shares[h.name]["app"], spec.app.memory_per_worker_bytes))
        budgets.append(memory_budget(h.name, items, h.memory_bytes))
        hosts.append(HostPlan(h.name, h.roles, h.count, h.cpus, h.memory_bytes, h.shape_source, h.addresses, items))
    return hosts, budgets


def plan_stack(name_or_path: str | Path, *, is_path: bool = False, pg_version: int | None = None,
               strict: bool = True, resolver=None, target: str = "hosts", host_ruby: str | None = None) -> Plan:
    """Load a stack by name (stacks/Pulumi.<name>.yaml) or path, and plan it."""
    from .. import stackfile

    path = name_or_path if is_path else stackfile.stack_path(name_or_path)
    spec = stackfile.load(path, resolver=resolver, name=None if is_path else name_or_path)
    return build_plan(spec, pg_version=pg_version, strict=strict, target=target, host_ruby=host_ruby)


__all__ = ["Plan", "HostPlan", "build_plan", "plan_stack", "container_name", "worst_case"]
