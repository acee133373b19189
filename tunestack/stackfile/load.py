"""Read and validate a stack file. Every problem becomes a `Problem` naming the file, the key path,
the value, what is allowed and the fix; nothing is planned or touched until the file is clean."""
from __future__ import annotations

import difflib
import ipaddress
import math
import re
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

from ..errors import MISSING, Problem, StackError
from ..paths import ROOT, stacks_dir
from ..postgres.catalog import catalog
from ..units import UnitError, parse_duration_ms, parse_size, release
from .aws import InstanceTypeResolver, UnknownInstanceType, known_types
from ..choices import CACHE_POLICIES, PGBOUNCER_SERVER_LIFETIME_MS, QUEUE_POLICY, RAILS_VERSIONS, RUBY_VERSIONS
from .schema import NS, STACK_SCHEMA
from .spec import (DEFAULT_REDIS_PORTS, DEFAULT_STORAGE, DEFAULT_THREADS, AppSpec, GatesSpec, HostSpec, JobsSpec, PgBouncerSpec, PostgresSpec,
                   RedisInstanceSpec, RolloutSpec, SamplingRule, StackSpec, TrafficSpec)
from .yamlread import YamlRefused, key_lines, line_of, read_yaml_text

MIN_DB_MEMORY = 512 * 1024**2   # pgtune refuses less than 512MB of memory
MAX_HOST_MEMORY = 16 * 1024**4  # 25% of it stays inside PostgreSQL's shared_buffers range
MIN_REDIS_MEMORY = 16 * 1024**2  # Redis itself needs a few MB; maxmemory is a share of this
STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
# postgresql.conf settings the stack sets through its own keys (or the deploy sets): an override
# would break ports, sockets, files or the budgets.
# App keys that only one kind of app reads: given to another, they would be silently ignored.
FRAMEWORK_KEYS = {"ruby": ("rails",), "rails": ("rails",), "jemalloc": ("rails",), "go": ("go",), "node": ("node",)}
OWNED_SETTINGS = {"port": "postgres.port", "listen_addresses": "the hosts' addresses",
                  "data_directory": "the deploy", "config_file": "the deploy", "hba_file": "the deploy",
                  "ident_file": "the deploy", "unix_socket_directories": "the deploy",
                  "unix_socket_permissions": "the deploy", "unix_socket_group": "the deploy",
                  "shared_preload_libraries": "tunestack (pg_stat_statements)",
                  "password_encryption": "tunestack (scram-sha-256)"}


def _is_integer(_checker, value) -> bool:
    """JSON Schema counts 4.0 as an integer; a stack file must not (a port of 16432.0, 4.0 threads)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(_checker, value) -> bool:
    """Finite numbers only: YAML's .nan and .inf would switch gates off or make them unpassable."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_number}))
_VALIDATOR = _StrictValidator(STACK_SCHEMA)


def stack_path(name: str) -> Path:
    return stacks_dir() / f"Pulumi.{name}.yaml"


def stack_names() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir().glob("Pulumi.*.yaml"))


def _is_address(text: str) -> bool:
    """An IP address or an RFC 1123 host name: nothing that a config file or ssh reads as more."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return bool(HOSTNAME.match(text))


def _given(section: dict, **names: str) -> dict:
    """Spec keyword → value for the stack-file keys `section` sets: the spec's own defaults fill
    the rest. `names` maps each spec field to its stack-file key."""
    return {field: section[key] for field, key in names.items() if key in section}


def _present(**values) -> dict:
    """The keyword arguments whose value was read (not None): parsed sizes and durations."""
    return {k: v for k, v in values.items() if v is not None}


def _path_text(parts) -> str:
    parts = list(parts)
    if not parts:
        return "(top level)"
    out = []
    for p in parts:
        out.append(f"[{p}]" if isinstance(p, int) else str(p))
    text = out[0]
    for p in out[1:]:
        text += p if p.startswith("[") else f" → {p}"
    return text


JSON_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list", dict: "mapping",
                   type(None): "empty value"}


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _schema_problem(file: str, err) -> Problem:
    path = list(err.absolute_path)
    schema = err.schema
    if err.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = [k for k in err.instance if k not in schema.get("properties", {})
                   and not any(re.match(p, k) for p in schema.get("patternProperties", {}))]
        key = unknown[0] if unknown else "?"
        close = difflib.get_close_matches(key, allowed, n=1)
        fix = f"did you mean '{close[0]}'?" if close else "remove the key"
        return Problem(file, _path_text(path + [key]), err.instance.get(key), "known keys: " + ", ".join(allowed),
                       f"unknown key; {fix}")
    if err.validator == "required":
        missing = err.message.split("'")[1]
        return Problem(file, _path_text(path + [missing]), MISSING, "this key is required",
                       f"add '{missing}'")
    if err.validator == "enum":
        close = difflib.get_close_matches(str(err.instance), [str(v) for v in err.validator_value], n=1)
        fix = f"did you mean '{close[0]}'?" if close else "use one of the allowed values"
        return Problem(file, _path_text(path), err.instance,
                       "one of " + ", ".join(str(v) for v in err.validator_value), fix)
    described = _description_at(path)
    if err.validator == "oneOf" and described:
        return Problem(file, _path_text(path), err.instance, described, "write it as in the examples")
    if err.validator == "type":
        expected = err.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return Problem(file, _path_text(path), err.instance,
                       f"a value of type {expected}" + (f": {described}" if described else ""),
                       f"write {_a(expected)}, not {_a(JSON_TYPE_NAMES.get(type(err.instance), 'value'))}")
    if err.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems",
                         "maxItems", "minLength", "pattern", "uniqueItems"):
        words = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                 "exclusiveMaximum": "less than", "minItems": "at least this many items:",
                 "maxItems": "at most this many items:", "minLength": "at least this many characters:",
                 "pattern": "matching", "uniqueItems": "no repeated items"}
        rule = words[err.validator] + ("" if err.validator == "uniqueItems" else f" {err.validator_value}")
        return Problem(file, _path_text(path), err.instance, described or rule, f"use a value {rule}")
    return Problem(file, _path_text(path), err.instance, described or err.message, "see stacks/stack.schema.json")


def _description_at(path) -> str:
    node = STACK_SCHEMA
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            props = node.get("properties", {})
            node = props.get(part) or node.get("additionalProperties") or {}
            if not isinstance(node, dict):
                return ""
    return node.get("description", "")


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise StackError([Problem(str(path), "(file)", MISSING, "an existing stack file",
                                  f"create it, or pick one of: {', '.join(stack_names())}")]) from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        raise StackError([Problem(str(path), "(file)", type(exc).__name__, "a readable UTF-8 text file",
                                  "point at the stack file itself")]) from None
    try:
        return read_yaml_text(text)
    except YamlRefused as exc:
        where = f"line {exc.line}" if exc.line else "(file)"
        raise StackError([Problem(str(path), where, exc.what, exc.allowed, exc.fix)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = str(getattr(exc, "problem", None) or exc)[:200]   # never echo a whole hostile file
        raise StackError([Problem(str(path), where, problem, "valid YAML",
                                  "fix the YAML syntax at that place")]) from None


def load(path: str | Path, resolver: InstanceTypeResolver | None = None, name: str | None = None) -> StackSpec:
    """Validate a stack file and return its typed content, or raise StackError with every problem."""
    path = Path(path)
    try:
        display = str(path.resolve().relative_to(ROOT))
    except ValueError:
        display = str(path)
    doc = _read_yaml(path)
    try:
        return load_document(doc, display, name or _name_of(path), resolver)
    except StackError as exc:   # say where in the file each problem is
        lines = key_lines(path.read_text(), _path_text)
        for problem in exc.problems:
            problem.line = problem.line or line_of(lines, problem.key_path)
        raise


def _name_of(path: Path) -> str:
    return path.name[len("Pulumi."):-len(".yaml")] if path.name.startswith("Pulumi.") else path.stem


def load_document(doc: object, display: str, name: str, resolver: InstanceTypeResolver | None = None) -> StackSpec:
    """Validate an already-parsed stack document (a file, or Pulumi's runtime config)."""
    if not isinstance(doc, dict):
        raise StackError([Problem(display, "(top level)", doc, "a mapping with a 'config' key",
                                  "start the file with `config:`")])
    doc = _pulumi_written(doc)
    errors = sorted(_VALIDATOR.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise StackError([_schema_problem(display, e) for e in errors])
    return _Builder(display, doc["config"], resolver or InstanceTypeResolver()).build(name, display)


def _pulumi_written(doc: dict) -> dict:
    """`pulumi config set tunestack:canaryWeight 50` writes the string "50" into the stack file (a
    rollout engine does so): take a whole number written as a string as that number (canaryWeight,
    canaryReplicas)."""
    config = doc.get("config")
    for key in (f"{NS}:canaryWeight", f"{NS}:canaryReplicas"):
        if isinstance(config, dict) and isinstance(config.get(key), str) and re.fullmatch(r"\d{1,4}", config[key]):
            config = {**config, key: int(config[key])}
            doc = {**doc, "config": config}
    return doc


class _Builder:
    """Semantic checks after the schema: arithmetic, lookups and cross-key rules."""

    def __init__(self, file: str, config: dict, resolver: InstanceTypeResolver):
        self.file = file
        self.c = config
        self.resolver = resolver
        self.problems: list[Problem] = []
        self.given: set[str] = set()

    def note_given(self, section: str, mapping: dict, prefix: str = "") -> None:
        for key in mapping:
            self.given.add(f"{section}.{prefix}{key}")

    def problem(self, path: list, value, allowed: str, fix: str) -> None:
        self.problems.append(Problem(self.file, _path_text(["config"] + path), value, allowed, fix))

    def size(self, path: list, value) -> int | None:
        """Bytes, or None when the key is absent (the spec's default applies)."""
        if value is None:
            return None
        try:
            n = parse_size(value)
        except UnitError as exc:
            self.problem(path, value, str(exc), "write a size such as 512MiB")
            return 0
        if n <= 0:
            self.problem(path, value, "a size above zero", "write a size such as 512MiB")
        return n

    def duration(self, path: list, value, whole_seconds: bool = False, minimum_ms: int = 0) -> int | None:
        """Milliseconds, or None when the key is absent (the spec's default applies).

        `whole_seconds`: the value reaches servers that count in seconds (PgBouncer, HAProxy,
        Gunicorn), so 1500ms would silently become 1 s there and 500ms would turn the timeout off."""
        if value is None:
            return None
        try:
            ms = parse_duration_ms(value)
        except UnitError as exc:
            self.problem(path, value, str(exc), "write a duration such as 15s")
            return None
        if ms < minimum_ms:
            self.problem(path, value, f"at least {minimum_ms // 1000 or minimum_ms}"
                         + (" s" if minimum_ms >= 1000 else " ms"), "write a longer duration, e.g. 30s")
        elif whole_seconds and ms % 1000:
            self.problem(path, value, "whole seconds: PgBouncer, HAProxy and the app servers count in seconds",
                         f"write {max(1, round(ms / 1000))}s")
        return ms

    def build(self, name: str, display: str) -> StackSpec:
        if not STACK_NAME.match(name):
            self.problems.append(Problem(self.file, "(the stack's name, from the file name)", name,
                                         "lower-case letters, digits and dashes, starting with a letter, "
                                         "at most 41 characters", "rename the file, e.g. Pulumi.staging-eu.yaml"))
        hosts = self.hosts()
        pg = self.postgres(hosts)
        bouncer = self.pgbouncer()
        cache, queue = self.redis()
        app = self.app(cache, queue)
        traffic = self.traffic()
        rollout = self.rollout()
        self.ports(hosts, pg, bouncer, cache, queue, app)
        if self.problems:
            raise StackError(self.problems)
        secrets = tuple(k.split(":", 1)[1] for k, v in self.c.items()
                        if k.startswith(f"{NS}:") and isinstance(v, dict) and "secure" in v)
        for key, section in self.c.items():
            if key.startswith(f"{NS}:"):
                self.given.add(key.split(":", 1)[1])
                if isinstance(section, dict):
                    self.note_given(key.split(":", 1)[1], section)
        return StackSpec(name=name, path=display, hosts=hosts, postgres=pg, pgbouncer=bouncer,
                         redis_cache=cache, redis_queue=queue, app=app, traffic=traffic, rollout=rollout,
                         images=dict(self.c.get(f"{NS}:images", {})), secret_keys=secrets,
                         registry=self.registry(secrets),
                         given=frozenset(self.given))

    # --- hosts ------------------------------------------------------------------------------
    def hosts(self) -> tuple[HostSpec, ...]:
        key = f"{NS}:hosts"
        out = []
        names = set()
        for idx, h in enumerate(self.c[key]):
            p = [key, idx]
            if h["name"] in names:
                self.problem(p + ["name"], h["name"], "a name used once", "rename one of the hosts")
            names.add(h["name"])
            count = h.get("count", 1)
            if count > 1 and set(h["roles"]) != {"app"}:
                self.problem(p + ["count"], count, "1 for hosts with the db or cache role",
                             "put db and cache on a host of their own with count 1")
            addresses = tuple(h.get("addresses", ()))
            for i, address in enumerate(addresses):
                if not _is_address(address):
                    self.problem(p + ["addresses", i], address, "an IP address or a host name (RFC 1123)",
                                 "write the host's private address, e.g. 10.0.1.10")
            if addresses and len(addresses) != count:
                self.problem(p + ["addresses"], list(addresses), f"exactly {count} address(es), one per host",
                             "list one address per host or set count to match")
            if "instance_type" in h and ("cpus" in h or "memory" in h):
                self.problem(p + ["instance_type"], h["instance_type"], "either instance_type or cpus + memory",
                             "remove cpus and memory, or remove instance_type")
                continue
            storage = h.get("storage")
            if "instance_type" in h:
                try:
                    shape = self.resolver.resolve(h["instance_type"])
                except UnknownInstanceType:
                    close = difflib.get_close_matches(h["instance_type"], known_types(), n=1)
                    self.problem(p + ["instance_type"], h["instance_type"], "a known AWS instance type",
                                 f"did you mean '{close[0]}'?" if close else "use cpus and memory instead")
                    continue
                cpus, mem, source = shape.vcpus, shape.memory_mib * 1024**2, shape.source
                threads = shape.threads_per_core
                storage = storage or shape.instance_storage or DEFAULT_STORAGE
            else:
                missing = [k for k in ("cpus", "memory") if k not in h]
                if missing:
                    self.problem(p + [missing[0]], MISSING, "cpus and memory, or an instance_type",
                                 f"add {' and '.join(missing)}, or an instance_type")
                    continue
                cpus, mem, source = h["cpus"], self.size(p + ["memory"], h["memory"]), "stack file"
                threads = h.get("threads_per_core", 1)
                storage = storage or DEFAULT_STORAGE
            if mem > MAX_HOST_MEMORY:
                self.problem(p + ["memory"], h.get("memory", h.get("instance_type")), "at most 16TiB",
                             "check the unit: sizes use kB/MB/GB/TB or KiB/MiB/GiB/TiB")
            if "db" in h["roles"] and 0 < mem < MIN_DB_MEMORY:
                self.problem(p + ["memory"], h.get("memory", h.get("instance_type")),
                             "at least 512MiB on a db host (pgtune's minimum for PostgreSQL)",
                             "give the db host more memory")
            out.append(HostSpec(name=h["name"], roles=tuple(h["roles"]), count=count, cpus=cpus,
                                memory_bytes=mem, storage=storage, shape_source=source,
                                instance_type=h.get("instance_type"), addresses=addresses, threads_per_core=threads,
                                ssh_user=h.get("ssh_user")))
        for role in ("db", "cache"):
            holders = [h for h in self.c[key] if role in h["roles"]]
            if len(holders) != 1:
                self.problem([key], [h["name"] for h in holders], f"exactly one host with role {role}",
                             f"give the {role} role to one host")
        if not any("app" in h["roles"] for h in self.c[key]):
            self.problem([key], [h["name"] for h in self.c[key]], "at least one host with role app",
                         "add a host with roles: [app]")
        return tuple(out)

    # --- services ---------------------------------------------------------------------------
    def postgres(self, hosts) -> PostgresSpec:
        key = f"{NS}:postgres"
        c = self.c[key]
        version = c["version"]
        gucs = catalog(version)
        overrides = {}
        for setting, value in (c.get("overrides") or {}).items():
            text = ("on" if value else "off") if isinstance(value, bool) else str(value)
            guc = gucs.get(setting)
            if setting in OWNED_SETTINGS:
                self.problem([key, "overrides", setting], value, f"a setting not set by {OWNED_SETTINGS[setting]}",
                             "remove the override" + (f"; set {OWNED_SETTINGS[setting]} instead"
                                                      if "." in OWNED_SETTINGS[setting] else ""))
                continue
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in text) or len(text) > 1024:
                self.problem([key, "overrides", setting], value,
                             "a value on one line, without control characters, at most 1024 characters",
                             "write the value as PostgreSQL shows it, e.g. '64MB'")
                continue
            if guc is None:
                close = difflib.get_close_matches(setting, list(gucs), n=1)
                self.problem([key, "overrides", setting], value, f"a PostgreSQL {version} setting",
                             f"did you mean '{close[0]}'?" if close else "remove it")
                continue
            complaint = guc.check(text)
            if complaint:
                self.problem([key, "overrides", setting], value, f"PostgreSQL {version}: {complaint}",
                             "pick a value inside PostgreSQL's range")
                continue
            overrides[setting] = text
        statement = self.duration([key, "statement_timeout"], c.get("statement_timeout"))
        lock = self.duration([key, "lock_timeout"], c.get("lock_timeout"))
        if statement is not None and lock is not None and statement and lock >= statement:
            self.problem([key, "lock_timeout"], c.get("lock_timeout"),
                         "less than statement_timeout (PostgreSQL docs: otherwise it is pointless)",
                         "lower lock_timeout below statement_timeout")
        return PostgresSpec(
            version=version, workload=c["workload"], overrides=overrides, built_with=tuple(c.get("built_with") or ()),
            statement_timeout_ms=statement, lock_timeout_ms=lock,
            wal_rate_bytes=self.size([key, "wal_rate"], c.get("wal_rate")),
            wal_disk_bytes=self.size([key, "wal_disk"], c.get("wal_disk")),
            **_given(c, db_size="db_size", port="port", admin_connections="admin_connections"),
            **_present(idle_in_transaction_timeout_ms=self.duration([key, "idle_in_transaction_timeout"],
                                                                    c.get("idle_in_transaction_timeout"),
                                                                    whole_seconds=True),
                       slow_query_ms=self.duration([key, "slow_query"], c.get("slow_query"))))

    def pgbouncer(self) -> PgBouncerSpec:
        c = self.c[f"{NS}:pgbouncer"]
        version = {}
        if "version" in c:
            version["version"] = release(c["version"])
        return PgBouncerSpec(pool_mode=c["pool_mode"], **version,
                             **_given(c, port="port", default_pool_size="default_pool_size",
                                      max_client_conn="max_client_conn"))

    def redis(self):
        key = f"{NS}:redis"
        c = self.c[key]
        cache_policy = c["cache"].get("policy", "allkeys-lru")
        if cache_policy not in CACHE_POLICIES:
            self.problem([key, "cache", "policy"], cache_policy, "allkeys-lru or allkeys-lfu",
                         "a cache evicts any key under memory pressure: use allkeys-lru")
        queue_policy = c["queue"].get("policy", QUEUE_POLICY)
        if queue_policy != QUEUE_POLICY:
            self.problem([key, "queue", "policy"], queue_policy,
                         "noeviction (Sidekiq: an evicting queue loses jobs silently)",
                         "set policy: noeviction or remove the key")
        memories = {}
        for role in ("cache", "queue"):
            memory = memories[role] = self.size([key, role, "memory"], c[role]["memory"])
            if memory and memory < MIN_REDIS_MEMORY:
                self.problem([key, role, "memory"], c[role]["memory"], "at least 16MiB per Redis instance",
                             "give the instance more memory, e.g. 128MiB")
        self.note_given("redis", c["cache"], "cache.")
        self.note_given("redis", c["queue"], "queue.")
        cache = RedisInstanceSpec("cache", memories["cache"],
                                  cache_policy, c["cache"].get("port", DEFAULT_REDIS_PORTS["cache"]))
        queue = RedisInstanceSpec("queue", memories["queue"],
                                  queue_policy, c["queue"].get("port", DEFAULT_REDIS_PORTS["queue"]))
        return cache, queue

    def app(self, cache, queue) -> AppSpec:
        key = f"{NS}:app"
        c = self.c[key]
        j = c.get("jobs", {})
        self.note_given("app", j, "jobs.")
        if j.get("redis") == "cache":
            self.problem([key, "jobs", "redis"], "cache",
                         f"queue: the cache instance evicts keys ({cache.policy}) and would drop jobs",
                         "point jobs at the queue instance: redis: queue")
        jobs = JobsSpec(**_given(j, concurrency="concurrency", processes="processes", redis="redis"),
                        **_present(memory_per_process_bytes=self.size([key, "jobs", "memory_per_process"],
                                                                      j.get("memory_per_process")),
                                   statement_timeout_ms=self.duration([key, "jobs", "statement_timeout"],
                                                                      j.get("statement_timeout")),
                                   lock_timeout_ms=self.duration([key, "jobs", "lock_timeout"], j.get("lock_timeout"))))
        request_ms = self.duration([key, "request_timeout"], c.get("request_timeout"), whole_seconds=True,
                                   minimum_ms=1000)
        limit = request_ms if request_ms is not None else AppSpec.request_timeout_ms
        if jobs.lock_timeout_ms is not None and jobs.lock_timeout_ms > limit:
            # PostgreSQL grants conflicting locks in arrival order: web requests queue behind a job
            # that waits for a lock, so a job may not wait longer than a request may take.
            self.problem([key, "jobs", "lock_timeout"], j["lock_timeout"],
                         f"at most the request timeout ({limit // 1000}s): web requests that need the same lock "
                         "queue behind a waiting job (PostgreSQL grants locks in arrival order)",
                         "lower app.jobs.lock_timeout, e.g. 5s; long jobs need statement_timeout, not lock waits")
        if jobs.statement_timeout_ms is not None and jobs.lock_timeout_ms is not None \
                and jobs.lock_timeout_ms >= jobs.statement_timeout_ms:
            self.problem([key, "jobs", "lock_timeout"], j["lock_timeout"],
                         "less than app.jobs.statement_timeout (PostgreSQL docs: otherwise it is pointless)",
                         "lower app.jobs.lock_timeout below app.jobs.statement_timeout")
        framework = c["framework"]
        for name, owner in FRAMEWORK_KEYS.items():
            if name in c and framework not in owner:
                self.problem([key, name], c[name], f"a setting of a {' or '.join(owner)} app (this app is {framework})",
                             f"remove app.{name}, or set app.framework to {owner[0]}")
        versions = {}
        for name, known in (("ruby", RUBY_VERSIONS), ("rails", RAILS_VERSIONS)):
            if name in c:
                versions[name] = text = c[name] if isinstance(c[name], str) else f"{c[name]}"
                if text not in known:
                    self.problem([key, name], c[name], f"one of {', '.join(known)} (the versions tunestack has "
                                 f"{name.capitalize()} rules for)",
                                 f"write the {name.capitalize()} the app runs, as major.minor, e.g. {known[1]!r}")
        runtime = self.go_settings(key, c.get("go") or {}) if framework == "go" else \
            self.node_settings(key, c.get("node") or {}, c) if framework == "node" else {}
        return AppSpec(framework=c["framework"], threads=c.get("threads", DEFAULT_THREADS[c["framework"]]),
                       memory_per_worker_bytes=self.size([key, "memory_per_worker"], c["memory_per_worker"]),
                       jobs=jobs,
                       **_given(c, max_workers="max_workers", port="port", lb_port="lb_port",
                                db_pool_headroom="db_pool_headroom", jemalloc="jemalloc"),
                       **versions, **runtime,
                       **_present(request_timeout_ms=request_ms))

    def go_settings(self, key: str, g: dict) -> dict:
        lifetime = self.duration([key, "go", "conn_max_lifetime"], g.get("conn_max_lifetime"))
        idle = self.duration([key, "go", "conn_max_idle_time"], g.get("conn_max_idle_time"))
        if lifetime is not None and lifetime >= PGBOUNCER_SERVER_LIFETIME_MS:
            # PgBouncer closes its server connection at server_lifetime; the app's connection to PgBouncer
            # should be recycled first so a fresh one lands on a fresh server connection.
            self.problem([key, "go", "conn_max_lifetime"], g["conn_max_lifetime"],
                         f"less than PgBouncer's server_lifetime ({PGBOUNCER_SERVER_LIFETIME_MS // 60_000} min)",
                         "use 5m to 30m, as database/sql deployments behind PgBouncer do")
        if lifetime is not None and idle is not None and idle > lifetime:
            self.problem([key, "go", "conn_max_idle_time"], g["conn_max_idle_time"],
                         "at most conn_max_lifetime (database/sql closes at whichever comes first)",
                         "lower conn_max_idle_time, e.g. 5m")
        return _present(go_conn_max_lifetime_ms=lifetime, go_conn_max_idle_ms=idle)

    def node_settings(self, key: str, n: dict, c: dict) -> dict:
        heap = self.size([key, "node", "max_old_space"], n.get("max_old_space"))
        per_process = self.size([key, "memory_per_worker"], c["memory_per_worker"])
        if heap is not None and per_process is not None and heap >= per_process:
            self.problem([key, "node", "max_old_space"], n["max_old_space"],
                         f"less than memory_per_worker ({c['memory_per_worker']}): the process also needs memory "
                         "outside V8's heap", "remove it (75 % of memory_per_worker) or raise memory_per_worker")
        return {**_present(node_max_old_space_bytes=heap),
                **_given(n, node_uses_threadpool="uses_threadpool")}

    def traffic(self) -> TrafficSpec:
        key = f"{NS}:traffic"
        c = self.c[key]
        budget = c["tracing_budget"]
        rules = tuple(SamplingRule(r["path"], float(r["rate"]), r.get("share")) for r in c.get("sampling_rules", ()))
        shares = sum(r.share or 0 for r in rules)
        if shares > 1:
            self.problem([key, "sampling_rules"], [r.share for r in rules], "shares that add up to at most 1",
                         "the shares are fractions of all requests; lower them")
        health = tuple(c.get("health_paths", TrafficSpec.health_paths))
        for i, rule in enumerate(rules):
            if rule.path in health:
                self.problem([key, "sampling_rules", i, "path"], rule.path, "a path that is not a health check",
                             "health checks are always sampled at 0; remove the rule")
        self.note_given("traffic", budget, "tracing_budget.")
        spans = {"spans_per_transaction": float(budget["spans_per_transaction"])} \
            if "spans_per_transaction" in budget else {}
        return TrafficSpec(peak_rps=float(c["peak_rps"]), tracing_per_month=budget["per_month"],
                           health_paths=health, sampling_rules=rules, **spans,
                           **_given(budget, tracing_unit="unit"),
                           **_given(c, profiles_per_month="profiles_per_month"),
                           **({"peak_jobs_per_second": float(c["peak_jobs_per_second"])}
                              if "peak_jobs_per_second" in c else {}))

    def rollout(self) -> RolloutSpec:
        key = f"{NS}:rollout"
        c = self.c.get(key, {})
        steps = tuple(c.get("steps", RolloutSpec.steps))
        if any(b <= a for a, b in zip(steps, steps[1:])):
            self.problem([key, "steps"], list(steps), "weights that rise step by step", "sort them, e.g. [10, 25, 50, 100]")
        elif steps[-1] != 100:
            self.problem([key, "steps"], list(steps), "a last step of 100", "end the steps with 100")
        g = c.get("gates", {})
        self.note_given("rollout", g, "gates.")
        gates = GatesSpec(**_given(g, max_error_rate="max_error_rate", max_p95_ms="max_p95_ms",
                                   min_requests="min_requests"))
        pg_image = self.c.get(f"{NS}:images", {}).get("postgres", "")
        pg_version = self.c[f"{NS}:postgres"]["version"]
        if pg_image.startswith("tunestack/postgres:") and pg_image.split(":")[1] != str(pg_version):
            self.problem([f"{NS}:images", "postgres"], pg_image, f"tunestack/postgres:{pg_version}, the image of the "
                         "PostgreSQL major the stack plans for", f"name tunestack/postgres:{pg_version}, or plan for "
                         f"version {pg_image.split(':')[1]}")
        for role, image in sorted(self.c.get(f"{NS}:images", {}).items()):
            self.buildable(role, image)
        weight = self.c.get(f"{NS}:canaryWeight", RolloutSpec.canary_weight)
        if weight and not self.c.get(f"{NS}:images", {}).get("canary_app"):
            self.problem([f"{NS}:canaryWeight"], weight, "0 while no canary image is set",
                         "set tunestack:images.canary_app, or canaryWeight: 0")
        replicas = self.c.get(f"{NS}:canaryReplicas")
        machines = sum(h.get("count", 1) for h in self.c.get(f"{NS}:hosts", []) if "app" in h.get("roles", []))
        if replicas is not None and replicas > machines:
            self.problem([f"{NS}:canaryReplicas"], replicas, f"at most the {machines} app replica(s)",
                         "lower canaryReplicas, or add app hosts")
        if replicas and not self.c.get(f"{NS}:images", {}).get("canary_app"):
            self.problem([f"{NS}:canaryReplicas"], replicas, "0 while no canary image is set",
                         "set tunestack:images.canary_app, or canaryReplicas: 0")
        canary_env = tuple(sorted(self.c.get(f"{NS}:canaryEnv", {}).items()))
        return RolloutSpec(steps=steps, gates=gates, canary_weight=weight, canary_replicas=replicas,
                           canary_env=canary_env,
                           **_present(bake_ms=self.duration([key, "bake"], c.get("bake"), minimum_ms=1000)),
                           **_given(c, max_surge_percent="max_surge"))

    def buildable(self, role: str, image) -> None:
        """A tunestack/* image is built from this repository (`tunestack images build`): its tag
        must be one a recipe in images/ makes. Other names come from the user's registry."""
        from ..images import buildable_tags

        if not isinstance(image, str) or not image.startswith("tunestack/") or image.startswith("tunestack/postgres:"):
            return
        if image not in buildable_tags():
            self.problem([f"{NS}:images", role], image, "a tag that images/ builds: " + ", ".join(sorted(buildable_tags())),
                         "name one of those, or push your own image to your registry and name it there")

    def registry(self, secrets: tuple[str, ...]) -> tuple[str, str] | None:
        registry = self.c.get(f"{NS}:registry")
        if registry and "registryPassword" not in secrets:
            self.problems.append(Problem(self.file, _path_text(["config", f"{NS}:registryPassword"]), MISSING,
                                         "a Pulumi secret with the registry's password or token",
                                         "pulumi config set --secret tunestack:registryPassword …"))
        if self.problems:
            raise StackError(self.problems)
        return (registry["address"], registry["username"]) if registry else None

    def ports(self, hosts, pg, bouncer, cache, queue, app) -> None:
        """Every port the stack listens on, once: the local canary slot (app port + 100) included."""
        ports = [("postgres", [f"{NS}:postgres", "port"], pg.port),
                 ("pgbouncer", [f"{NS}:pgbouncer", "port"], bouncer.port),
                 ("redis cache", [f"{NS}:redis", "cache", "port"], cache.port),
                 ("redis queue", [f"{NS}:redis", "queue", "port"], queue.port),
                 ("app", [f"{NS}:app", "port"], app.port),
                 ("load balancer", [f"{NS}:app", "lb_port"], app.lb_port)]
        if hosts and all(h.is_local for h in hosts):
            ports.append(("the local canary (app port + 100)", [f"{NS}:app", "port"], app.canary_port))
        used: dict[int, tuple[str, list]] = {}
        for label, path, port in ports:
            if port > 65535:
                self.problem(path, app.port, "an app port up to 65435: the canary listens 100 above it",
                             "pick a lower app port")
            elif port in used and "canary" in label:   # blame the key that sits on the canary's port
                self.problem(used[port][1], port, f"a port other than {port}: the local canary listens on the "
                             "app port + 100", "pick another port")
            elif port in used:
                self.problem(path, port, f"a port not already taken by {used[port][0]}", "pick another port")
            used.setdefault(port, (label, path))
