"""Prometheus' size for a stack: the targets it scrapes, the series they export, the memory its
head block holds and the disk its retention needs. Pure.

Sources: Prometheus docs, "Storage" → "Operational aspects": needed disk = retention seconds ×
samples ingested per second × bytes per sample, "on average only around 1-2 bytes per sample";
the write-ahead log keeps at least three 128 MB segments and two hours of raw data. Robust
Perception, "Why does Prometheus use so much RAM" (Prometheus 2.20 on): about 3 kB per series in
the head block.

The series per target are estimates until the monitoring tests count each exporter's live output
(issue #29); each carries that in its reason."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import Problem, StackError
from ..units import KIB, MIB, format_bytes_human
from .setting import Setting, policy

BYTES_PER_SAMPLE = 2            # the docs' upper figure: the disk is planned for the worst of 1-2
HEAD_BYTES_PER_SERIES = 3 * KIB
BASE_MEMORY = 128 * MIB         # Prometheus itself, its rule evaluation and a few queries
WAL_SEGMENT = 128 * MIB
WAL_SEGMENTS_MIN = 3
WAL_HOURS = 3                   # two hours of raw data, and up to one more until the head is compacted
WAL_BYTES_PER_SAMPLE = 16       # raw in the log: an 8-byte value, its series reference and timestamp
INDEX_SHARE = 0.1               # blocks hold indexes and metadata beside their chunks
# Series each kind of target exports, before the tests count them live (estimates).
SERIES = {"node": 1_000, "postgres": 600, "pgbouncer": 150, "redis": 250, "haproxy": 400, "app": 300,
          "prometheus": 1_000, "alertmanager": 150, "patroni": 60, "etcd": 800, "sentinel": 250, "other": 1_000}


@dataclass(frozen=True)
class ScrapeTarget:
    kind: str          # a SERIES key
    name: str
    address: str       # host:port, or the service name until its exporter is placed


def scrape_targets(plan) -> tuple[ScrapeTarget, ...]:
    """Everything the stack's Prometheus scrapes: each machine's node exporter, PostgreSQL (each node
    with standbys, and each Patroni), PgBouncer, both Redis (each queue node and Sentinel), HAProxy,
    every app replica, etcd, Prometheus and Alertmanager themselves, and the stack file's extra ones."""
    spec = plan.spec
    out = [ScrapeTarget("node", f"{h.name}-{i}", f"{(h.addresses or ('127.0.0.1',))[i]}:9100")
           for h in spec.hosts for i in range(h.count)]
    nodes = plan.ha["nodes"].value if plan.ha else ()
    out += [ScrapeTarget("postgres", n.name, n.name) for n in nodes] or [ScrapeTarget("postgres", "postgres", "postgres")]
    out += [ScrapeTarget("patroni", n.name, f"{n.address}:{n.rest_port}") for n in nodes]
    out += [ScrapeTarget("etcd", m.name, f"{m.address}:{m.client_port}") for m in (plan.ha["etcd members"].value
                                                                                  if plan.ha else ())]
    out += [ScrapeTarget("pgbouncer", "pgbouncer", "pgbouncer"), ScrapeTarget("redis", "redis-cache", "redis-cache")]
    queue = plan.queue_ha["nodes"].value if plan.queue_ha else ()
    out += [ScrapeTarget("redis", n.name, f"{n.address}:{n.port}") for n in queue] or \
        [ScrapeTarget("redis", "redis-queue", "redis-queue")]
    out += [ScrapeTarget("sentinel", s.name, s.endpoint) for s in (plan.queue_ha["sentinels"].value
                                                                   if plan.queue_ha else ())]
    out += [ScrapeTarget("haproxy", "haproxy", "haproxy")]
    out += [ScrapeTarget("app", r.name, f"{r.address}:{r.port}") for r in plan.placement.replicas]
    out += [ScrapeTarget("prometheus", "prometheus", "prometheus"),
            ScrapeTarget("alertmanager", "alertmanager", "alertmanager")]
    out += [ScrapeTarget("other", t, t) for t in spec.monitoring.targets]
    return tuple(out)


def disk_needed(series: int, interval_ms: int, retention_ms: int) -> int:
    """The docs' formula for the blocks, with indexes on top, plus the write-ahead log."""
    per_second = series * 1000 / interval_ms
    blocks = retention_ms / 1000 * per_second * BYTES_PER_SAMPLE * (1 + INDEX_SHARE)
    wal = max(WAL_SEGMENTS_MIN * WAL_SEGMENT, WAL_HOURS * 3600 * per_second * WAL_BYTES_PER_SAMPLE)
    return int(blocks + wal)


def longest_retention_ms(series: int, interval_ms: int, disk: int) -> int:
    """The longest retention whose blocks and log fit on `disk` (0 when the log alone does not)."""
    per_second = series * 1000 / interval_ms
    wal = max(WAL_SEGMENTS_MIN * WAL_SEGMENT, WAL_HOURS * 3600 * per_second * WAL_BYTES_PER_SAMPLE)
    room = disk - wal
    return max(0, int(room / (per_second * BYTES_PER_SAMPLE * (1 + INDEX_SHARE)) * 1000))


def monitoring_settings(plan) -> dict[str, Setting]:
    m = plan.spec.monitoring
    targets = scrape_targets(plan)
    series = sum(SERIES[t.kind] for t in targets)
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
        "series": Setting(series, "the targets' series, estimated per kind of exporter until the tests count them "
                                  "live", "computed"),
        "scrape_interval": Setting(m.scrape_interval_ms, "monitoring.scrape_interval (Prometheus' documented 15s "
                                                         "by default)", unit="ms"),
        "retention": Setting(m.retention_ms, "monitoring.retention (Prometheus' own default, 15d)", unit="ms",
                             text=f"{m.retention_ms // 3_600_000}h"),
        "disk": Setting(m.disk_bytes or need, ("monitoring.disk, checked: " if m.disk_bytes else "sized: ")
                        + f"{format_bytes_human(need)} for the retention at {BYTES_PER_SAMPLE} bytes a sample (the "
                          "docs' 1-2), indexes and the write-ahead log", unit="bytes"),
        "memory": Setting(memory, f"{format_bytes_human(BASE_MEMORY)} for Prometheus itself and about 3 kB per series "
                                  "in the head block (Robust Perception, Prometheus 2.20 on)", unit="bytes"),
        "receiver": policy(m.receiver or "", "monitoring.receiver: where Alertmanager posts alerts"
                           if m.receiver else "none given: alerts wait in Alertmanager (its API and `tunestack "
                                              "status` show them)"),
    }



def with_monitoring(plan):
    """The plan with section `monitoring` (Prometheus' targets, series, memory and disk)."""
    from dataclasses import replace

    return replace(plan, monitoring=monitoring_settings(plan))
