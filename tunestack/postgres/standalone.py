"""The standalone recommender's rules around pgtune's numbers: the smallest host and connection
count pgtune accepts, pgtune's own build warnings, and current → recommended per setting as
timescaledb-tune shows it. Pure: the CLI reads files and flags, this module compares."""
from __future__ import annotations

from dataclasses import dataclass

from ..units import MIB, UnitError, pg_value_in_base_units
from .catalog import catalog

MIN_MEMORY_BYTES = 512 * MIB    # pgtune refuses less than 512MB of memory
MIN_CONNECTIONS = 20            # pgtune's minimum max_connections
# Settings whose recommended value needs a library the server may be built without (pgtune warns).
BUILD_FLAGS = (("wal_compression", "lz4", "--with-lz4"), ("io_method", "io_uring", "--with-liburing"))


def input_problems(memory: int, cpus: int | None, connections: int | None) -> list[tuple[str, str]]:
    """(which input, what is allowed) for each input pgtune would refuse."""
    out = []
    if memory < MIN_MEMORY_BYTES:
        out.append(("memory", "at least 512MB (pgtune's minimum)"))
    if cpus is not None and cpus < 1:
        out.append(("cpus", "at least 1"))
    if connections is not None and connections < MIN_CONNECTIONS:
        out.append(("connections", "at least 20 (pgtune's minimum)"))
    return out


def build_warnings(recs) -> list[str]:
    """pgtune's own warnings for settings a server may not be built for."""
    return [f"{name} = {value} requires PostgreSQL built with {flag}"
            for name, value, flag in BUILD_FLAGS if name in recs and recs[name].value == value]


PGTUNE_LARGE_BYTES = 100 * 1024**3   # pgtune warns above 100 GB: "not optimal for very high memory systems"
SMALL_HOST_BYTES = 1024**3           # below it, the connections' own memory is a large share of the host
MEMORY_SETTINGS_KB = ("shared_buffers", "work_mem", "maintenance_work_mem", "autovacuum_work_mem")


def memory_warnings(recs, memory: int, version: int) -> list[str]:
    """pgtune's numbers stay (parity); on the hosts pgtune itself warns about, what they mean is
    said with the arithmetic: above 100 GB, the worst case the server may allocate (pgtune sizes
    work_mem so that sort + hash in every connection fill what shared_buffers leaves: everything
    else, autovacuum included, is beyond the host); below 1 GB, what the connections take before any
    query (tunestack/postgres/footprint.py)."""
    from ..units import format_bytes_human as h
    from .footprint import BACKEND_PRIVATE_BYTES, describe, footprint

    values = {k: (r.number * 1024 if k in MEMORY_SETTINGS_KB and r.number is not None else
                  r.number if r.number is not None else r.value) for k, r in recs.items()}
    out = []
    if memory > PGTUNE_LARGE_BYTES:
        fp = footprint(values, version)
        work_mem = int(values.get("work_mem") or 4 * MIB)
        worst = fp.total(work_mem)
        out.append(f"{h(memory)} is above the 100 GB pgtune's formulas were made for (pgtune: \"not optimal for "
                   f"very high memory systems\"): at worst this server may allocate {h(worst)} "
                   f"({worst * 100 // memory}% of the host): {describe(fp, work_mem)}. Measure before trusting "
                   "work_mem, or give fewer --connections")
    connections = int(values.get("max_connections") or 0)
    if memory < SMALL_HOST_BYTES and connections:
        private = connections * BACKEND_PRIVATE_BYTES
        out.append(f"a host of {h(memory)} with {connections} connections: their own memory alone is "
                   f"{connections} × {h(BACKEND_PRIVATE_BYTES)} = {h(private)} ({private * 100 // memory}% of the "
                   "host) before any query; give fewer --connections and put a pooler in front")
    return out


@dataclass(frozen=True)
class Change:
    name: str
    current: str | None      # None: not set in the file (PostgreSQL's default)
    recommended: str
    reason: str
    same: bool
    default: str | None = None   # PostgreSQL's own default, where the file does not set it
    restart: bool = False        # PostgreSQL reads it only at start (pg_settings.context postmaster)


def same_value(unit: str | None, current: str | None, recommended: str) -> bool:
    """Equal once both are in the setting's base unit (`1GB` and `1024MB`); text otherwise."""
    if current is None:
        return False
    try:
        return pg_value_in_base_units(current, unit) == pg_value_in_base_units(recommended, unit)
    except (UnitError, ValueError):
        return current.strip().lower() == recommended.strip().lower()


def compare(recs, current: dict[str, str], pg_version: int) -> list[Change]:
    """Each recommendation against the file, or against PostgreSQL's own default where the file does
    not set it: a recommendation equal to what the server already runs with is no change."""
    gucs = catalog(pg_version)
    out = []
    for name, r in recs.items():
        guc = gucs.get(name)
        now = current.get(name)
        default = guc.shown_default if guc and now is None else None
        same = same_value(guc.unit if guc else None, now if now is not None else default, r.value)
        out.append(Change(name, now, r.value, r.reason, same, default, bool(guc and guc.context == "postmaster")))
    return out


def inputs_line(version: int, memory: int, cpus: int | None, connections: int, connections_from: str,
                storage: str, workload: str, db_size: str) -> str:
    """What the recommendations were computed from, first, as pgtune and timescaledb-tune show it."""
    from ..units import format_bytes_human

    cores = f"{cpus} CPUs" if cpus else "CPUs not given"
    return (f"PostgreSQL {version}, {format_bytes_human(memory)} memory, {cores}, {connections} connections "
            f"({connections_from}), {storage} storage, {workload} workload, {db_size}")
