"""Prometheus' size for a stack: the targets it scrapes, the series they export, the memory its
head block holds and the disk its retention needs (the formulas and their sources: promstorage.py),
where each monitoring server runs and how it is reached. Pure.

The series per target are estimates until the monitoring tests count each exporter's live output
(issue #29); each carries that in its reason."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import Problem, StackError
from ..units import MIB, format_bytes_human
from .alerts import METRICS_PATH
from .placement import container_name
from .rollout import running
from .promstorage import BASE_MEMORY, BYTES_PER_SAMPLE, HEAD_BYTES_PER_SERIES, disk_needed, longest_retention_ms
from .setting import Setting, policy

# Series each kind of target exports, an upper bound. Measured on the local stack (2 cores, one
# database, samples per scrape; tests/monitoring checks each bound against the live count): node
# 512 on a quiet machine, 1,053 with a dozen containers' network interfaces beside it (about 40
# series an interface: a Docker host has one per container), postgres 565, PgBouncer 65 (it grows with
# pools), Redis 225 and 299, HAProxy 319 (it grows with servers), the Python app 24, Prometheus 533,
# Alertmanager 258. Patroni's, etcd's and Sentinel's are not measured yet: estimates.
SERIES = {"node": 2_000, "postgres": 700, "pgbouncer": 120, "redis": 400, "haproxy": 450, "app": 150,
          "prometheus": 700, "alertmanager": 350, "patroni": 60, "etcd": 800, "sentinel": 250, "other": 1_000}


# postgres_exporter holds one connection; a second while it reconnects. Its role's CONNECTION LIMIT,
# counted among the direct connections in max_connections.
MONITOR_CONNECTIONS = 2
MONITOR_ROLE = "tunestack_monitor"   # pg_monitor in PostgreSQL, a stats user in PgBouncer, an ACL user in Redis
# What the servers themselves hold in memory (RSS), beside Prometheus' head block: measured on the
# local stack at start (ps -o rss: node_exporter 20 MB, postgres_exporter 18, PgBouncer's 31,
# redis_exporter 16, Alertmanager 35), with room to grow.
ALERTMANAGER_MEMORY = 64 * MIB
EXPORTER_MEMORY = {"node_exporter": 32 * MIB, "postgres_exporter": 32 * MIB,
                   "pgbouncer_exporter": 48 * MIB,   # a Python process (prometheus_client, psycopg2)
                   "redis_exporter": 32 * MIB}
# The service each exporter sits beside: it reads its server over loopback or a private socket.
EXPORTS = {"postgres_exporter": "postgres", "pgbouncer_exporter": "pgbouncer", "redis_exporter": "redis-cache"}


@dataclass(frozen=True)
class ScrapeTarget:
    kind: str          # a SERIES key
    name: str
    address: str       # host:port Prometheus scrapes
    path: str = "/metrics"
    target: str = ""   # redis_exporter's multi-target mode: the Redis it reads (its ?target=)
    labels: tuple[tuple[str, str], ...] = ()   # added to every series (role for Redis, track for the app)
    tls: bool = False  # scraped over HTTPS, verified against the stack's CA (a node exporter on another host)


@dataclass(frozen=True)
class Exporter:
    """One exporter container of a stack on Docker: its program, where it runs and listens, and the
    server it reads (host:port as its client connects, and whether over TLS)."""
    program: str       # node_exporter | postgres_exporter | pgbouncer_exporter | redis_exporter
    container: str     # its name, and its alias on its host's private network
    host: str
    machine: int
    port: int
    reads: str = ""    # host:port of its server (empty: the node exporter reads its host)
    reads_tls: bool = False
    publish: str | None = None   # the host address it is published on (scraped from another host: TLS)


def host_address(host, machine: int = 0) -> str:
    return (host.addresses or ("127.0.0.1",))[machine]


def monitoring_host(spec):
    """Prometheus and Alertmanager run on the cache host: the db host keeps its memory for PostgreSQL's
    page cache, an app host's is sized to its workers."""
    return spec.host_with("cache")


def exporter_hosts(spec, docker: bool = False) -> dict[str, object]:
    """Each exporter's host: on hosts, beside the server it reads (over loopback). On Docker, beside
    Prometheus: each reads its server as any client does (over TLS where that server is published
    for other hosts), and only the node exporters are scraped across hosts."""
    if docker:
        return dict.fromkeys(("postgres_exporter", "pgbouncer_exporter", "redis_exporter"), monitoring_host(spec))
    return {"postgres_exporter": spec.host_with("db"), "pgbouncer_exporter": spec.host_with("db"),
            "redis_exporter": spec.host_with("cache")}


def reach_from_monitoring(plan, service: str) -> str:
    """How a client beside Prometheus reaches `service`: its alias on the same host's private
    network, else the address its host publishes it on. With standbys PostgreSQL is reached as
    PgBouncer reaches it, through the proxy to the primary on the cache host (Prometheus' host, by
    the alias <stack>-postgres), so its exporter follows the primary across failovers."""
    spot = plan.placement[service]
    if spot.host.name == monitoring_host(plan.spec).name or (service == "postgres" and plan.ha):
        return container_name(plan.stack, service)
    return spot.publish or spot.reach


def monitoring_name(stack: str, server: str) -> str:
    """A monitoring container's name and alias on Docker: <stack>-monitoring-<server>."""
    return container_name(stack, f"monitoring-{server}")


def docker_exporters(plan) -> tuple[Exporter, ...]:
    """The exporter containers of a stack on Docker: a node exporter on every machine (published,
    with TLS, on the machines away from Prometheus), and the three server exporters beside it."""
    spec, port = plan.spec, plan.spec.monitoring.port
    home = monitoring_host(spec).name
    out = []
    for h in spec.hosts:
        for i in range(h.count):
            away = (h.name, i) != (home, 0)
            out.append(Exporter("node_exporter", monitoring_name(plan.stack, f"node-exporter-{h.name}-{i}"), h.name, i,
                                port("node_exporter"), publish=host_address(h, i) if away else None))
    tls = plan.tls
    for program, service, server_port in (
            ("postgres_exporter", "postgres", plan.spec.postgres.port),
            ("pgbouncer_exporter", "pgbouncer", plan.pgbouncer["listen_port"].value),
            ("redis_exporter", "redis-cache", 0)):   # redis_exporter reads both Redis: its targets say which
        reads = f"{reach_from_monitoring(plan, service)}:{server_port}" if server_port else ""
        # redis_exporter: TLS (the stack's CA) for whichever of its Redis and Sentinels serve it
        reads_tls = service in tls if server_port else any(k in tls for k in REDIS_TLS_KEYS)
        out.append(Exporter(program, monitoring_name(plan.stack, program.replace("_", "-")), home, 0, port(program),
                            reads, reads_tls=reads_tls))
    return tuple(out)


REDIS_TLS_KEYS = ("redis-cache", "redis-queue", "redis-sentinel")   # plan.tls: the Redis servers' certificates


def _redis_targets(plan, at: str) -> list[ScrapeTarget]:
    """Both Redis through one redis_exporter in multi-target mode (GET /scrape?target=redis://…);
    on Docker as the exporter beside Prometheus reaches each, rediss:// where Redis serves TLS."""
    queue = plan.queue_ha["nodes"].value if plan.queue_ha else ()
    cache_role, queue_role = (("role", "cache"),), (("role", "queue"),)

    def scheme(service: str) -> str:
        return "rediss" if plan.placement.docker and service in plan.tls else "redis"

    def uri(service: str, port: int) -> str:
        if not plan.placement.docker:
            return f"redis://{plan.placement[service].reach}:{port}"
        return f"{scheme(service)}://{reach_from_monitoring(plan, service)}:{port}"
    out = [ScrapeTarget("redis", "redis-cache", at, "/scrape", uri("redis-cache", plan.spec.redis_cache.port), cache_role)]
    # each queue node and Sentinel at the address it announces (on containers: its machine's,
    # over TLS across machines, as the apps reach them)
    out += [ScrapeTarget("redis", n.name, at, "/scrape", f"{scheme('redis-queue')}://{n.address}:{n.port}", queue_role)
            for n in queue] or \
        [ScrapeTarget("redis", "redis-queue", at, "/scrape", uri("redis-queue", plan.spec.redis_queue.port), queue_role)]
    # redis_exporter reads a Sentinel as it does a Redis (INFO, SENTINEL MASTERS, CKQUORUM, …): its
    # redis_sentinel_* series, as the monitoring user Sentinel's ACL allows (queuefiles.py)
    sentinels = plan.queue_ha["sentinels"].value if plan.queue_ha else ()
    return out + [ScrapeTarget("sentinel", s.name, at, "/scrape", f"{scheme('redis-sentinel')}://{s.address}:{s.port}",
                               (("role", "sentinel"),)) for s in sentinels]


def _exporter_targets(plan) -> list[ScrapeTarget]:
    """The node exporters and the server exporters: on hosts beside their servers, on Docker the
    containers docker_exporters places."""
    spec, port = plan.spec, plan.spec.monitoring.port
    if plan.placement.docker:
        exporters = docker_exporters(plan)
        at = {e.program: f"{e.container}:{e.port}" for e in exporters}
        out = [ScrapeTarget("node", f"{e.host}-{e.machine}", f"{e.publish or e.container}:{e.port}", tls=bool(e.publish))
               for e in exporters if e.program == "node_exporter"]
    else:
        at = {name: f"{host_address(h)}:{port(name)}" for name, h in exporter_hosts(spec).items()}
        out = [ScrapeTarget("node", f"{h.name}-{i}", f"{host_address(h, i)}:{port('node_exporter')}")
               for h in spec.hosts for i in range(h.count)]
    # With standbys, postgres_exporter reads through the primary service (postgres.port), so it
    # follows the primary across failovers; each node's role, lag and timeline are Patroni's metrics.
    out += [ScrapeTarget("postgres", "postgres", at["postgres_exporter"])]
    if plan.ha:
        out += [ScrapeTarget("patroni", n.name, f"{n.address}:{n.rest_port}", tls=n.tls) for n in plan.ha["nodes"].value]
        out += [ScrapeTarget("etcd", m.name, f"{m.address}:{m.client_port}", tls=m.tls)
                for m in plan.ha["etcd members"].value]
    out += [ScrapeTarget("pgbouncer", "pgbouncer", at["pgbouncer_exporter"])]
    return out + _redis_targets(plan, at["redis_exporter"])


def scrape_targets(plan) -> tuple[ScrapeTarget, ...]:
    """Everything the stack's Prometheus scrapes: each machine's node exporter, PostgreSQL (with
    standbys: the primary, each Patroni and etcd member), PgBouncer, both Redis (each queue node and
    Sentinel), HAProxy,
    every app replica, etcd, Prometheus and Alertmanager themselves, and the stack file's extra ones.
    On Docker, servers on Prometheus' host by their aliases, the others at their published addresses."""
    spec, port, docker = plan.spec, plan.spec.monitoring.port, plan.placement.docker
    out = _exporter_targets(plan)
    lb = container_name(plan.stack, "lb") if docker else plan.placement["haproxy"].reach
    out += [ScrapeTarget("haproxy", "haproxy", f"{lb}:{plan.loadbalancer['port'].value}", METRICS_PATH)]
    out += [ScrapeTarget("app", r.name, f"{r.address}:{r.port}", METRICS_PATH, labels=(("track", r.track),))
            for r in running(plan.replicas)]
    home = host_address(monitoring_host(spec))
    at = {k: monitoring_name(plan.stack, k) if docker else home for k in ("prometheus", "alertmanager")}
    https = serves_https(plan)
    out += [ScrapeTarget(k, k, f"{at[k]}:{port(k)}", tls=https) for k in ("prometheus", "alertmanager")]
    out += [ScrapeTarget("other", t, t) for t in spec.monitoring.targets]
    return tuple(out)


def runs(plan) -> bool:
    """The stack file turns monitoring on: its servers run with the stack."""
    return bool(plan.monitoring) and plan.monitoring["enabled"].value


def address_of(plan, kind: str) -> str:
    """Where the first target of `kind` (prometheus, alertmanager, pgbouncer, …) is scraped."""
    return next(t.address for t in plan.monitoring["targets"].value if t.kind == kind)


def api_address(plan, kind: str) -> str:
    """Where an operator's tools (status, verify, advise, the rollout gates) reach Prometheus or
    Alertmanager: the monitoring host's address (on Docker, where the port is published)."""
    return f"{plan.monitoring['host address'].value}:{plan.spec.monitoring.port(kind)}"


def sized_series(plan, targets) -> int:
    """The series Prometheus is sized for: every target's bound, with as many app targets as the
    load balancer has app slots (each replica, and the canary's slot), whatever the rollout runs
    now. A rollout step changes what is scraped (delivered live), never Prometheus' memory or disk:
    those are its container's limits and arguments, and a change would restart it mid-rollout."""
    apps = max(sum(t.kind == "app" for t in targets), len(plan.placement.app_slots))
    return sum(SERIES[t.kind] for t in targets if t.kind != "app") + apps * SERIES["app"]


def monitoring_settings(plan) -> dict[str, Setting]:
    m = plan.spec.monitoring
    targets = scrape_targets(plan)
    series = sized_series(plan, targets)
    need = disk_needed(series, m.scrape_interval_ms, m.retention_ms)
    if m.disk_bytes is not None and need > m.disk_bytes:
        days = longest_retention_ms(series, m.scrape_interval_ms, m.disk_bytes) / 86_400_000
        raise StackError([Problem(plan.spec.path, "config → tunestack:monitoring → retention",
                                  f"{m.retention_ms / 86_400_000:g}d",
                                  f"at most {days:.1f}d on a {format_bytes_human(m.disk_bytes)} disk: {len(targets)} "
                                  f"targets export about {series} series, which need "
                                  f"{format_bytes_human(need)} for this retention (Prometheus docs, Storage)",
                                  f"shorten monitoring.retention, or give monitoring.disk at least "
                                  f"{format_bytes_human(need)}")])
    memory = BASE_MEMORY + series * HEAD_BYTES_PER_SERIES
    return {
        "targets": Setting(targets, f"{len(targets)} scrape targets: every machine's node exporter and each server "
                                    "of the stack, with the stack file's own", text=str(len(targets))),
        "series": Setting(series, "the targets' series, per kind of exporter: bounds above what each exported "
                                  "live on the local stack (Patroni's, etcd's and Sentinel's estimated); the app's "
                                  "for every app slot, the canary's included, whatever the rollout runs", "computed"),
        "scrape_interval": Setting(m.scrape_interval_ms, "monitoring.scrape_interval; also the rules' evaluation "
                                                         "interval (Prometheus' documented 15s by default)", unit="ms"),
        "retention": Setting(m.retention_ms, "monitoring.retention (Prometheus' own default is 15d)", unit="ms",
                             text=f"{m.retention_ms // 3_600_000}h"),
        "disk": Setting(m.disk_bytes or need, ("monitoring.disk, checked: " if m.disk_bytes else "sized: ")
                        + f"{format_bytes_human(need)} for the retention at {BYTES_PER_SAMPLE} bytes a sample (the "
                          "docs' 1-2), indexes and the write-ahead log", unit="bytes"),
        "memory": Setting(memory, f"{format_bytes_human(BASE_MEMORY)} for Prometheus itself and about 3 kB per series "
                                  "in the head block (Robust Perception, Prometheus 2.20 on)", unit="bytes"),
        "enabled": policy(m.enabled, "the stack file's tunestack:monitoring section: Prometheus, Alertmanager and "
                                     "the exporters run with the stack" if m.enabled else
                                     "no tunestack:monitoring section: the rules are rendered for a Prometheus of "
                                     "your own"),
        "ports": Setting(dict(m.ports), "each server's documented default port unless monitoring.ports sets it",
                         "policy", text=", ".join(f"{k} {v}" for k, v in m.ports)),
        "host": policy(monitoring_host(plan.spec).name, "Prometheus and Alertmanager beside the cache: the db host "
                                                        "keeps its memory for PostgreSQL"),
        "host address": policy(host_address(monitoring_host(plan.spec)), "where Prometheus and Alertmanager listen"),
        # Prometheus resends every firing alert to Alertmanager this often: one lost (Alertmanager
        # restarting, or not yet known after a reload) is late by at most this much.
        "alert_resend_delay": Setting(4 * m.scrape_interval_ms, "four evaluations: at the 15s default interval, "
                                                                "Prometheus' own 1m (--rules.alert.resend-delay)",
                                      unit="ms", text=f"{max(1, 4 * m.scrape_interval_ms // 1000)}s"),
        "receiver": policy(m.receiver or "", "monitoring.receiver: where Alertmanager posts alerts"
                           if m.receiver else "none given: alerts wait in Alertmanager (its API and `tunestack "
                                              "status` show them)"),
    }



def memory_items(spec, prometheus_bytes: int, docker: bool = False) -> dict[str, list[tuple[str, int]]]:
    """What the monitoring servers add to each host's memory budget: a node exporter on every host,
    each exporter where exporter_hosts puts it, Prometheus and Alertmanager on the monitoring host."""
    out: dict[str, list[tuple[str, int]]] = {h.name: [("node_exporter", EXPORTER_MEMORY["node_exporter"])]
                                            for h in spec.hosts}
    for name, host in exporter_hosts(spec, docker).items():
        out[host.name].append((name, EXPORTER_MEMORY[name]))
    out[monitoring_host(spec).name] += [("Prometheus", prometheus_bytes), ("Alertmanager", ALERTMANAGER_MEMORY)]
    return out


MONITORING_CONTAINERS = {"prometheus": "Prometheus", "alertmanager": "Alertmanager"}


EXPORTER_CPUS = 0.1   # an exporter or Alertmanager: a scrape or a notification now and then


def on_containers(spec, docker: bool) -> bool:
    """Monitoring runs in containers of its own: on Docker, where the stack file turns it on."""
    return docker and spec.monitoring.enabled


def monitoring_cpus(spec, host, docker: bool) -> dict[str, float]:
    """The monitoring containers' CPUs on `host`, set aside before PostgreSQL and the app split the
    rest (memory.cpu_shares): a tenth of a core for each exporter and Alertmanager; Prometheus (rule
    evaluation, compaction) a sixteenth of its host, a quarter core at least and a core at most."""
    if not on_containers(spec, docker):
        return {}
    out = {"node-exporter": EXPORTER_CPUS}
    if host.name == monitoring_host(spec).name:
        out |= dict.fromkeys(("postgres-exporter", "pgbouncer-exporter", "redis-exporter", "alertmanager"),
                             EXPORTER_CPUS)
        out["prometheus"] = min(1.0, max(0.25, host.cpus / 16))
    return out


def monitoring_limits(plan, memory: dict[str, list[tuple[str, int]]]) -> dict[str, list]:
    """The monitoring containers' limits on each host: memory as budgeted, CPUs as set aside."""
    from .memory import ContainerLimit

    out: dict[str, list] = {}
    for host in plan.spec.hosts:
        cpus = monitoring_cpus(plan.spec, host, True)
        out[host.name] = [ContainerLimit(name.lower().replace("_", "-"), size, cpus[name.lower().replace("_", "-")],
                                         "the monitoring server's budgeted memory, and the CPUs set aside for it "
                                         "before PostgreSQL and the app split the host")
                          for name, size in memory.get(host.name, [])]
    return out


def serves_https(plan) -> bool:
    """Prometheus and Alertmanager answer HTTPS only where the stack spans machines (on Docker): the
    operators' tools reach them at the monitoring host's published address from elsewhere, as
    Prometheus does the node exporters away from it. On one machine their traffic stays there."""
    return on_containers(plan.spec, plan.placement.docker) and any(e.publish for e in docker_exporters(plan))


def scheme(plan) -> str:
    """How Prometheus and Alertmanager are asked: https where serves_https, else http."""
    return "https" if serves_https(plan) else "http"


def api_url(plan, kind: str) -> str:
    """api_address with its scheme."""
    return f"{scheme(plan)}://{api_address(plan, kind)}"


def web_tls(plan) -> dict:
    """Prometheus' and Alertmanager's certificates where they serve HTTPS: the names they are reached
    by (their alias, inside their container localhost, the published address)."""
    from .tls import ServerTls

    if not serves_https(plan):
        return {}
    published = host_address(monitoring_host(plan.spec))
    return {f"monitoring-{k}": ServerTls(f"monitoring-{k}", (monitoring_name(plan.stack, k), "localhost"),
                                         ("127.0.0.1", published)) for k in ("prometheus", "alertmanager")}


def node_exporter_tls(plan) -> dict:
    """A certificate for each node exporter Prometheus scrapes from another host (HTTPS: the
    exporter-toolkit web config), with the names Prometheus connects to."""
    from .tls import ServerTls

    short = {e: e.container.removeprefix(f"{plan.stack}-") for e in docker_exporters(plan) if e.publish}
    return {name: ServerTls(name, (e.container, "localhost"), ("127.0.0.1", e.publish)) for e, name in short.items()}


def with_monitoring(plan):
    """The plan with section `monitoring` (Prometheus' targets, series, memory and disk); where the
    stack file turns monitoring on, its servers in the hosts' memory budgets, and on Docker their
    containers' limits and the node exporters' certificates."""
    from dataclasses import replace

    from .budgets import memory_budget

    settings = monitoring_settings(plan)
    if not plan.spec.monitoring.enabled:
        return replace(plan, monitoring=settings)
    docker = plan.placement.docker
    extra = memory_items(plan.spec, settings["memory"].value, docker)
    hosts = [replace(h, memory_items=h.memory_items + extra.get(h.name, [])) for h in plan.hosts]
    recounted = {f"memory on {h.name}": memory_budget(h.name, h.memory_items, h.memory_bytes) for h in hosts}
    budgets = [recounted.get(b.name, b) for b in plan.budgets]
    if not docker:
        return replace(plan, monitoring=settings, hosts=hosts, budgets=budgets)
    limits = monitoring_limits(plan, extra)
    return replace(plan, monitoring=settings, hosts=hosts, budgets=budgets,
                   containers={h: [*c, *limits.get(h, [])] for h, c in plan.containers.items()},
                   tls={**plan.tls, **node_exporter_tls(plan), **web_tls(plan)})
