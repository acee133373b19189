"""The closed sets a stack file chooses from. The schema, the loader, the CLI and the planner all
read them from here."""
from __future__ import annotations

ROLES = ("db", "cache", "app")
STORAGES = ("ssd", "hdd", "san", "nvme")
PG_VERSIONS = (13, 14, 15, 16, 17, 18)
PG_BUILD_FEATURES = ("lz4", "liburing")   # optional libraries a plan uses when the server has them
WORKLOADS = ("web", "oltp", "dw", "mixed", "desktop")
DB_SIZES = ("less_ram", "mid_ram", "greater_ram")       # pgtune's data size against memory
POOL_MODES = ("session", "transaction", "statement")
EVICTION_POLICIES = ("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                     "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")
CACHE_POLICIES = ("allkeys-lru", "allkeys-lfu")         # a cache evicts any key under pressure
QUEUE_POLICY = "noeviction"                             # a queue never drops a job
JOB_REDIS = ("queue", "cache")
FRAMEWORKS = ("rails", "python", "go", "node")
PGBOUNCER_SERVER_LIFETIME_MS = 3_600_000   # PgBouncer's default server_lifetime, which the plan keeps
RUBY_VERSIONS = ("3.0", "3.1", "3.2", "3.3", "3.4")              # the ones plan/ruby.py has rules for
RAILS_VERSIONS = ("6.1", "7.0", "7.1", "7.2", "8.0", "8.1")
# The oldest Ruby each Rails runs on (Rails guides, "Upgrading Ruby on Rails": 7.2 needs 3.1, 8.0 needs 3.2).
RAILS_MIN_RUBY = {"6.1": "2.5", "7.0": "2.7", "7.1": "2.7", "7.2": "3.1", "8.0": "3.2", "8.1": "3.2"}
TRACING_UNITS = ("transactions", "spans")
IMAGE_KEYS = ("postgres", "pgbouncer", "redis", "app", "canary_app", "haproxy", "monitoring")
TARGETS = ("hosts", "docker")
MAX_LOAD_RATE = 500   # requests/s a rollout's own synthetic load sends at most (`rollout --load`)
MAX_BAKE_MS = 86_400_000   # a day: a longer bake holds the stack's rollout for days   # services as packages on hosts, or as containers

# The monitoring servers and their default ports (each project's documented one; the Prometheus
# wiki's "Default port allocations" for the exporters).
MONITORING_PORTS = (("prometheus", 9090), ("alertmanager", 9093), ("node_exporter", 9100),
                    ("postgres_exporter", 9187), ("pgbouncer_exporter", 9127), ("redis_exporter", 9121))
