"""JSON Schema of a stack file (stacks/Pulumi.<stack>.yaml).

It catches shape errors (unknown keys, wrong types, values out of an enum) for editors and for the
loader. Rules that need arithmetic or lookups (instance types, PostgreSQL ranges, host roles) are
checked by `stackfile.py` after the schema passes. `python -m tunestack schema` prints it;
`stacks/stack.schema.json` is that output, kept equal by a test.
"""
from __future__ import annotations

from ..choices import (DB_SIZES, EVICTION_POLICIES, FRAMEWORKS, IMAGE_KEYS, JOB_REDIS, MONITORING_PORTS,
                      PG_BUILD_FEATURES, PG_VERSIONS, POOL_MODES,
                      ROLES, STORAGES, TRACING_UNITS, WORKLOADS)

NS = "tunestack"

# Units are written out and case-sensitive, as PostgreSQL writes them: a bare number, `Gb` or `1g`
# is refused rather than guessed. Digits are ASCII only.
SIZE = {
    "description": "a size with its unit, such as 512MiB, 16GB or 1TB (kB/MB/GB/TB are powers of 1024, as in "
                   "PostgreSQL; KiB/MiB/GiB/TiB mean the same)",
    "type": "string",
    "pattern": r"^[0-9]+(\.[0-9]+)?(B|kB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
}
DURATION = {
    "description": "a duration with its unit, such as 250ms, 15s, 10m, 10min or 1h",
    "type": "string",
    "pattern": r"^[0-9]+(\.[0-9]+)?(ms|s|min|m|h|d)$",
}
# RFC 3986 path characters: no spaces, quotes, control characters or line breaks.
URL_PATH = {"type": "string", "pattern": r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$", "maxLength": 200,
            "description": "a URL path such as /health: letters, digits and ._~!$&'()*+,;=:@%/- only"}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535, "description": "a TCP port, 1–65535"}
SECRET = {
    "description": "a Pulumi secret: set it with `pulumi config set --secret`",
    "type": "object",
    "properties": {"secure": {"type": "string"}},
    "required": ["secure"],
    "additionalProperties": False,
}


def _obj(properties: dict, required: tuple[str, ...] = (), description: str = "") -> dict:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


HOST = _obj(
    {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,30}$",
                 "description": "lower-case letters, digits and dashes, starting with a letter"},
        "roles": {"type": "array", "minItems": 1, "uniqueItems": True,
                  "items": {"enum": list(ROLES)},
                  "description": "any of db, cache, app; local and dev stacks may put several on one host"},
        "count": {"type": "integer", "minimum": 1, "maximum": 1000,
                  "description": "how many identical hosts (app hosts only)"},
        "cpus": {"type": "integer", "minimum": 1, "maximum": 1024, "description": "vCPUs, 1–1024"},
        "threads_per_core": {"type": "integer", "minimum": 1, "maximum": 8,
                             "description": "hardware threads per physical core (2 with hyper-threading); "
                                            "cpus / threads_per_core is the core count connection pools use. "
                                            "An instance_type brings its own"},
        "memory": SIZE,
        "storage": {"enum": list(STORAGES)},
        "instance_type": {"type": "string", "pattern": r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
                          "description": "an AWS instance type such as m6i.xlarge"},
        "addresses": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 253},
                      "description": "one IP address or host name per host; without it the host is this machine"},
        "ssh_user": {"type": "string", "pattern": "^[a-z_][a-z0-9_-]{0,31}$",
                     "description": "a Unix user name: lower-case letters, digits, _ and -"},
    },
    required=("name", "roles"),
)

POSTGRES = _obj(
    {
        "version": {"enum": list(PG_VERSIONS),
                    "description": f"PostgreSQL major version, {PG_VERSIONS[0]}–{PG_VERSIONS[-1]}"},
        "workload": {"enum": list(WORKLOADS)},
        "db_size": {"enum": list(DB_SIZES),
                    "description": "data size against memory, as pgtune asks it"},
        "port": PORT,
        "built_with": {"type": "array", "uniqueItems": True, "items": {"enum": list(PG_BUILD_FEATURES)},
                       "description": "what the target server was built with (pg_config --configure): lz4 "
                                      "enables wal_compression = lz4, liburing io_method = io_uring (18); "
                                      "without it, methods every build has"},
        "wal_rate": dict(SIZE, description="WAL written per second at peak, such as 20MB (pg_stat_wal's wal_bytes "
                                           "over a busy minute / 60); without it, the rate pgtune's max_wal_size "
                                           "for the workload implies"),
        "wal_disk": dict(SIZE, description="the size of the disk that holds pg_wal; max_wal_size stays within 60% "
                                           "of it (timescaledb-tune)"),
        "admin_connections": {"type": "integer", "minimum": 0, "maximum": 1000,
                              "description": "direct connections kept free for migrations, admin and monitoring"},
        "statement_timeout": DURATION,
        "lock_timeout": DURATION,
        "idle_in_transaction_timeout": DURATION,
        "slow_query": DURATION,
        "replicas": {"type": "integer", "minimum": 0, "maximum": 4,
                     "description": "standby servers beside the primary, managed by Patroni with etcd; 0 (the "
                                    "default) keeps one server"},
        "rpo": {"oneOf": [{"const": 0}, {"const": "0"}, SIZE],
                "description": "committed work a failover may lose: 0 (the default with replicas) waits for a "
                               "synchronous standby on every commit; a size such as 1MiB lets a standby that far "
                               "behind take over"},
        "rto": dict(DURATION, description="the longest a lost primary may leave the stack without one, such as "
                                          "30s (the default); Patroni's timings follow from it"),
        "etcd_hosts": {"type": "array", "uniqueItems": False, "items": {"type": "string"},
                       "description": "the hosts that run an etcd member, one each: 1, 3 or 5 names; without it "
                                      "the planner picks distinct hosts"},
        "patroni_port": dict(PORT, description="Patroni's REST API port (default 8008)"),
        "etcd_port": dict(PORT, description="etcd's client port (default 2379); its peers use the next one"),
        "overrides": {"type": "object",
                      "description": "postgresql.conf settings to force, checked against PostgreSQL's ranges",
                      "additionalProperties": {"type": ["string", "number", "boolean"]}},
    },
    required=("version", "workload"),
)

PGBOUNCER = _obj(
    {
        "pool_mode": {"enum": list(POOL_MODES)},
        "version": {"type": "string", "pattern": r"^1\.\d+$",
                    "description": "PgBouncer version such as 1.18 (Debian 12) or 1.24"},
        "port": PORT,
        "default_pool_size": {"type": "integer", "minimum": 1, "maximum": 10000},
        "max_client_conn": {"type": "integer", "minimum": 1, "maximum": 1000000},
    },
    required=("pool_mode",),
)

REDIS_INSTANCE = _obj(
    {
        "memory": SIZE,
        "policy": {"enum": list(EVICTION_POLICIES)},
        "port": PORT,
        "replicas": {"type": "integer", "minimum": 0, "maximum": 2,
                     "description": "queue only: replicas beside the master, failed over by three Redis Sentinels "
                                    "(0, the default: one instance); jobs a client got an answer for are on a "
                                    "replica before the answer (WAIT)"},
        "sentinel_port": dict(PORT, description="queue only: Redis Sentinel's port (default 26379; + 0, 1, 2 on "
                                                "a one-machine stack)"),
    },
    required=("memory",),
)
REDIS = _obj({"cache": REDIS_INSTANCE, "queue": REDIS_INSTANCE}, required=("cache", "queue"))

JOBS = _obj(
    {
        "concurrency": {"type": "integer", "minimum": 1, "maximum": 1000},
        "processes": {"type": "integer", "minimum": 0, "maximum": 256},
        "memory_per_process": SIZE,
        "redis": {"enum": list(JOB_REDIS), "description": "the Redis instance the job queue uses"},
        "statement_timeout": {**DURATION, "description": "the jobs role's statement_timeout (default 5min)"},
        "lock_timeout": {**DURATION, "description": "the jobs role's lock_timeout (default: the web role's); "
                                                    "at most the request timeout"},
    },
    required=("concurrency", "processes"),
)
APP = _obj(
    {
        "framework": {"enum": list(FRAMEWORKS),
                      "description": "rails = Puma + Sidekiq; python = Gunicorn (gthread)"},
        "threads": {"type": "integer", "minimum": 1, "maximum": 64},
        "memory_per_worker": SIZE,
        "max_workers": {"type": "integer", "minimum": 1, "maximum": 256},
        "port": PORT,
        "lb_port": {**PORT, "description": "the load balancer's port (default 8080)"},
        "request_timeout": DURATION,
        "db_pool_headroom": {"type": "integer", "minimum": 0, "maximum": 100},
        "jemalloc": {"type": "boolean"},
        # Checked by the loader, which names the known versions: YAML reads 3.1 as a number.
        "ruby": {"type": ["string", "number"], "description": "Ruby version of a rails app: 3.0 to 3.4 "
                                                              "(default: the host's on a local stack, else 3.1)"},
        "rails": {"type": ["string", "number"], "description": "Rails version of a rails app: 6.1 to 8.1 "
                                                               "(default 6.1, Debian 12's)"},
        "jobs": JOBS,
        "go": _obj({"conn_max_lifetime": DURATION, "conn_max_idle_time": DURATION},
                   description="database/sql pool lifetimes of a go app (default 30m and 5m)"),
        "node": _obj({"max_old_space": SIZE, "uses_threadpool": {"type": "boolean"}},
                     description="a node app's V8 heap (default 75 % of memory_per_worker) and whether it uses "
                                 "libuv's thread pool"),
    },
    required=("framework", "memory_per_worker"),
)

TRAFFIC = _obj(
    {
        "peak_rps": {"type": "number", "exclusiveMinimum": 0},
        "db_time_per_request": {**DURATION, "description": "a duration such as 20ms: the database time one "
                                                           "request spends at peak (pg_stat_statements' total time "
                                                           "over the requests served); sizes the server pool by "
                                                           "Little's law"},
        "peak_jobs_per_second": {"type": "number", "minimum": 0,
                                 "description": "background jobs run per second at peak; they are Sentry "
                                                "transactions too (default: one per request)"},
        "tracing_budget": _obj(
            {
                "per_month": {"type": "integer", "minimum": 0},
                "unit": {"enum": list(TRACING_UNITS)},
                "spans_per_transaction": {"type": "number", "exclusiveMinimum": 0},
            },
            required=("per_month",),
        ),
        "profiles_per_month": {"type": "integer", "minimum": 0},
        "health_paths": {"type": "array", "minItems": 1, "maxItems": 20, "items": URL_PATH},
        "sampling_rules": {
            "type": "array",
            "items": _obj(
                {
                    "path": URL_PATH,
                    "rate": {"type": "number", "minimum": 0, "maximum": 1},
                    "share": {"type": "number", "minimum": 0, "maximum": 1,
                              "description": "the share of all requests that hit this path"},
                },
                required=("path", "rate"),
            ),
        },
    },
    required=("peak_rps", "tracing_budget"),
)

BACKUP = _obj(
    {
        "repository": {
            "description": "where pgBackRest keeps backups and WAL: one of host (another host of the stack), "
                           "path (a folder on the db host) or s3",
            "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
            "properties": {
                "host": {"type": "string", "pattern": r"^[a-z][a-z0-9-]{0,40}$",
                         "description": "a host name of this stack file (not the db host)"},
                "path": {"type": "string", "pattern": r"^/[A-Za-z0-9._/-]{1,200}$",
                         "description": "an absolute folder on the db host"},
                "s3": _obj({"bucket": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
                            "region": {"type": "string", "pattern": r"^[a-z0-9-]{1,40}$"},
                            "endpoint": {"type": "string", "pattern": r"^[a-z0-9.-]+(:[0-9]{1,5})?$"}},
                           required=("bucket", "region"),
                           description="S3 or compatible; keys: the secrets tunestack:backupS3Key and "
                                       "tunestack:backupS3KeySecret"),
            },
        },
        "allow_same_host": {"type": "boolean", "description": "accept a repository on the db host itself on a "
                                                              "stack of several hosts (a lost host loses both)"},
        "full": {"enum": ["weekly", "daily"], "description": "how often a full backup runs (differentials on "
                                                             "the other days)"},
        "retention_full": {"type": "integer", "minimum": 1, "maximum": 52},
        "archive_timeout": {**DURATION, "description": "a duration such as 60s: at most this much committed "
                                                       "work is lost with the db host (the RPO)"},
        "compress": {"enum": ["lz4", "zst", "gz"]},
        "data_size": {**SIZE, "description": "the database's size, for the repository estimate"},
        "wal_per_day": {**SIZE, "description": "WAL written a day (pg_stat_wal), for the repository estimate"},
        "repository_disk": {**SIZE, "description": "the repository's disk, checked against the estimate"},
    },
    description="the backup policy (pgBackRest)",
)

MONITORING = _obj(
    {
        "retention": {**DURATION, "description": "how long Prometheus keeps samples (default 15d); the disk "
                                                 "must hold them"},
        "scrape_interval": {**DURATION, "description": "how often every target is scraped (default 15s)"},
        "disk": {**SIZE, "description": "the disk given to Prometheus; checked against what the retention needs"},
        "receiver": {"type": "string", "maxLength": 500,
                     "description": "the http(s) URL Alertmanager sends alerts to (a webhook receiver)"},
        "targets": {"type": "array", "maxItems": 100, "items": {"type": "string", "maxLength": 100},
                    "description": "more scrape targets, each address:port on a private network"},
        "ports": _obj({name: dict(PORT, description=f"{name}'s port (default {port})")
                       for name, port in MONITORING_PORTS}),
    },
    description="Prometheus, Alertmanager and the exporters deployed with the stack (this section turns them on)",
)

ROLLOUT = _obj(
    {
        "steps": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1, "maximum": 100}},
        "bake": DURATION,
        "max_surge": {"type": "integer", "minimum": 0, "maximum": 100,
                      "description": "extra app capacity, in % of app hosts, while old and new run side by side"},
        "gates": _obj(
            {
                "max_error_rate": {"type": "number", "minimum": 0, "maximum": 1},
                "max_p95_ms": {"type": "number", "exclusiveMinimum": 0},
                "min_requests": {"type": "integer", "minimum": 1},
            }
        ),
    }
)

# Docker's reference grammar (distribution/reference): [registry[:port]/]path[:tag][@digest].
IMAGE_REF = {"type": "string", "maxLength": 255,
             "pattern": r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
                        r"(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[a-f0-9]{64})?$",
             "description": "an image reference such as postgres:16.4-bookworm or registry.example:5000/team/app:1.2"}
IMAGES = _obj({name: IMAGE_REF for name in IMAGE_KEYS})

CONFIG = {
    "type": "object",
    "properties": {
        f"{NS}:hosts": {"type": "array", "minItems": 1, "items": HOST},
        f"{NS}:postgres": POSTGRES,
        f"{NS}:pgbouncer": PGBOUNCER,
        f"{NS}:redis": REDIS,
        f"{NS}:app": APP,
        f"{NS}:traffic": TRAFFIC,
        f"{NS}:rollout": ROLLOUT,
        f"{NS}:images": IMAGES,
        f"{NS}:canaryWeight": {"type": "integer", "minimum": 0, "maximum": 100,
                               "description": "the rollout state: % of traffic on images.canary_app"},
        f"{NS}:canaryEnv": {"type": "object", "maxProperties": 50,
                            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
                            "additionalProperties": {"type": "string", "maxLength": 1000, "pattern": "^[^\\n\\r\\x00]*$"},
                            "description": "the rollout state on Docker: extra environment of the canary "
                                           "replicas only (`tunestack rollout --env`)"},
        f"{NS}:canaryReplicas": {"type": "integer", "minimum": 0, "maximum": 1000,
                                 "description": "the rollout state on Docker: canary replicas a rollout started "
                                                "(their traffic moves by load-balancer weights at run time)"},
        f"{NS}:backup": BACKUP,
        f"{NS}:monitoring": MONITORING,
        f"{NS}:backupS3Key": {**SECRET, "description": "the S3 access key id of tunestack:backup.repository.s3"},
        f"{NS}:backupS3KeySecret": {**SECRET, "description": "its secret access key"},
        f"{NS}:dbPassword": SECRET,
        f"{NS}:dbPasswordPrevious": {**SECRET, "description": "during a rotation only: the app role's password "
                                                             "the servers still have (README: rotating the "
                                                             "database password)"},
        f"{NS}:tlsCaCert": {"type": "string", "maxLength": 20000, "pattern": "^-----BEGIN CERTIFICATE-----",
                            "description": "your own CA for TLS between hosts (PEM); its key is tunestack:tlsCaKey"},
        f"{NS}:tlsCaKey": {**SECRET, "description": "the key of tunestack:tlsCaCert"},
        f"{NS}:redisPassword": SECRET,
        f"{NS}:registry": _obj(
            {"address": {"type": "string", "pattern": r"^[a-z0-9]+([.-][a-z0-9]+)*(:[0-9]{1,5})?$",
                         "description": "the registry's host[:port], e.g. ghcr.io"},
             "username": {"type": "string", "minLength": 1, "maxLength": 200}},
            required=("address", "username"),
            description="where private images are pulled from; the password is tunestack:registryPassword"),
        f"{NS}:registryPassword": SECRET,
    },
    "required": [f"{NS}:hosts", f"{NS}:postgres", f"{NS}:pgbouncer", f"{NS}:redis", f"{NS}:app",
                 f"{NS}:traffic"],
    # Keys of other namespaces (docker:host, aws:region …) belong to providers and pass through.
    "patternProperties": {r"^(?!tunestack:)[A-Za-z0-9_-]+:.+$": {}},
    "additionalProperties": False,
}

STACK_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://tunestack.dev/stack.schema.json",
    "title": "tunestack stack file (stacks/Pulumi.<stack>.yaml)",
    "type": "object",
    "properties": {
        "config": CONFIG,
        "secretsprovider": {"type": "string"},
        "encryptedkey": {"type": "string"},
        "encryptionsalt": {"type": "string"},
        "environment": {},
    },
    "required": ["config"],
    "additionalProperties": False,
}
