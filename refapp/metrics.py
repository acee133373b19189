"""The metrics tunestack's alerts read (tunestack/plan/alerts.py), under the names every reference
app uses. Gunicorn runs several worker processes: prometheus_client's multiprocess mode keeps each
worker's values in files under PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py makes one per master), and
a scrape answered by any worker reads them all."""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily

# As refapp/go/metrics.go: fine around the rollout gates (100-500 ms), coarse up to the request timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10, 30)

LATENCY = Histogram("tunestack_http_request_duration_seconds", "Time to answer a request.", buckets=LATENCY_BUCKETS)
REQUESTS = Counter("tunestack_http_requests", "Requests answered, by status class.", ["code"])
CACHE_READS = Counter("tunestack_cache_reads", "Cache reads, by hit or miss.", ["result"])
# Exposed as tunestack_queue_unreplicated_total: enqueues accepted while fewer replicas were connected
# than REDIS_WAIT_REPLICAS asks (the RedisQueueEnqueueUnreplicated alert, plan/queueha.py).
QUEUE_UNREPLICATED = Counter("tunestack_queue_unreplicated", "Enqueues accepted with no replica to wait for.")
# Per process, added up over the live workers.
POOL_IN_USE = Gauge("tunestack_db_pool_in_use_connections", "Pool connections lent out now.",
                    multiprocess_mode="livesum")
POOL_MAX = Gauge("tunestack_db_pool_max_connections", "The pool's size (max_size).", multiprocess_mode="livesum")


class QueueDepth:
    """One queue, read by whichever worker answers the scrape: a collector with no stored value
    (prometheus_client's custom collectors), so no worker's old reading lingers."""

    def __init__(self, depth: int):
        self.depth = depth

    def collect(self):
        yield GaugeMetricFamily("tunestack_job_queue_depth", "Jobs waiting in the queue Redis.", value=self.depth)


def exposition(queue_depth: int) -> tuple[str, bytes]:
    """The metrics of every worker of this Gunicorn master (or of this process outside one), and
    the queue's depth now."""
    registry = CollectorRegistry()
    registry.register(QueueDepth(queue_depth))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
        return CONTENT_TYPE_LATEST, generate_latest(registry)
    return CONTENT_TYPE_LATEST, generate_latest(REGISTRY) + generate_latest(registry)
