"""Read and validate a stack file. Every problem becomes a `Problem` naming the file, the key path,
the value, what is allowed and the fix; nothing is planned or touched until the file is clean.

The schema (schema.py) checks shapes and types; then each section of the file has its own checks
(sections/), which record every problem before the file is refused."""
from __future__ import annotations

import math
import os
import re
import stat
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

from ..errors import MISSING, Problem, StackError
from ..paths import ROOT, stacks_dir
from .aws import InstanceTypeResolver
from .checker import Checker
from .problems import path_text, schema_problem
from .schema import NS, STACK_SCHEMA
from .sections.app import app as app_section
from .sections.backup import backup as backup_section
from .sections.monitoring import monitoring as monitoring_section
from .sections.ha import ha as ha_section
from .sections.hosts import hosts as hosts_section
from .sections.images import images as images_section, registry as registry_section
from .sections.pgbouncer import pgbouncer as pgbouncer_section
from .sections.ports import ports as ports_section
from .sections.postgres import postgres as postgres_section
from .sections.queueha import queue_ha as queue_ha_section
from .sections.redis import redis as redis_section
from .sections.rollout import rollout as rollout_section
from .sections.tls import tls_ca as tls_section
from .sections.traffic import traffic as traffic_section
from .spec import StackSpec
from .yamlread import MAX_BYTES, YamlRefused, key_lines, line_of, read_yaml_text

STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


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


def stack_names(folder: Path | None = None) -> list[str]:
    """The stacks of a folder (stacks/ by default): one per Pulumi.<name>.yaml."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (folder or stacks_dir()).glob("Pulumi.*.yaml"))


def stack_path(name: str) -> Path:
    return stacks_dir() / f"Pulumi.{name}.yaml"


def _kind(mode: int) -> str | None:
    """What a path that is not a regular file is, in words."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _read_text(path: Path) -> str:
    """The file's text, once it is known to be a regular file of a stack file's size: a FIFO, a
    device or a sparse giant is refused by what it is, before a byte is read."""
    st = path.stat()   # follows a symlink: what it points at is what would be read
    kind = _kind(st.st_mode)
    if kind:
        target = f" (a symlink to {os.path.realpath(path)})" if path.is_symlink() else ""
        raise StackError([Problem(str(path), "(file)", kind + target, "a regular file",
                                  "point at the stack file itself")])
    if st.st_size > MAX_BYTES:
        raise StackError([Problem(str(path), "(file)", f"{st.st_size} bytes", f"at most {MAX_BYTES} bytes",
                                  "a stack file holds one stack's settings; point at the right file")])
    with open(path, "rb") as f:
        return f.read(MAX_BYTES + 1).decode()


def _read_yaml(path: Path) -> object:
    try:
        text = _read_text(path)
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
        lines = key_lines(path.read_text(), path_text)
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
        raise StackError([schema_problem(display, e) for e in errors])
    return build_spec(Checker(display, doc["config"], resolver or InstanceTypeResolver()), name, display)


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


def _secret_keys(config: dict) -> tuple[str, ...]:
    return tuple(k.split(":", 1)[1] for k, v in config.items()
                 if k.startswith(f"{NS}:") and isinstance(v, dict) and "secure" in v)


def _note_sections(ck: Checker) -> None:
    """Every key the file sets, so the plan can tell a stack-file value from a default."""
    for key, section in ck.config.items():
        if key.startswith(f"{NS}:"):
            ck.given.add(key.split(":", 1)[1])
            if isinstance(section, dict):
                ck.note_given(key.split(":", 1)[1], section)


def build_spec(ck: Checker, name: str, display: str) -> StackSpec:
    """Every section's checks, then the spec; StackError with every problem found."""
    if not STACK_NAME.match(name):
        ck.problems.append(Problem(ck.file, "(the stack's name, from the file name)", name,
                                   "lower-case letters, digits and dashes, starting with a letter, "
                                   "at most 41 characters", "rename the file, e.g. Pulumi.staging-eu.yaml"))
    hosts = hosts_section(ck)
    pg = postgres_section(ck)
    bouncer = pgbouncer_section(ck)
    cache, queue = redis_section(ck)
    app = app_section(ck, cache)
    traffic = traffic_section(ck)
    rollout = rollout_section(ck)
    images = images_section(ck)
    ha = ha_section(ck, hosts)
    queue_ha = queue_ha_section(ck, hosts, app.jobs.redis)
    monitoring = monitoring_section(ck)
    ports_section(ck, hosts, pg, bouncer, cache, queue, app, ha, queue_ha, monitoring)
    if ck.problems:
        raise StackError(ck.problems)
    secrets = _secret_keys(ck.config)
    tls_section(ck, secrets)
    backup = backup_section(ck, hosts, secrets)
    if ck.problems:
        raise StackError(ck.problems)
    _note_sections(ck)
    return StackSpec(name=name, path=display, hosts=hosts, postgres=pg, pgbouncer=bouncer, redis_cache=cache,
                     redis_queue=queue, app=app, traffic=traffic, rollout=rollout, images=images,
                     secret_keys=secrets, registry=registry_section(ck, secrets), given=frozenset(ck.given),
                     backup=backup, ha=ha, queue_ha=queue_ha, monitoring=monitoring)
