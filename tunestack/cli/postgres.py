"""`tunestack postgres`: standalone pgtune-compatible PostgreSQL tuning."""
from __future__ import annotations

from pathlib import Path

from ..choices import DB_SIZES, PG_VERSIONS, STORAGES, WORKLOADS
from ..console import print_json
from ..errors import UsageError
from .parser import flag_value, report_options


def register(sub) -> None:
    p = sub.add_parser("postgres", help="standalone pgtune-compatible PostgreSQL tuning",
                       description="pgtune-compatible recommendations for one PostgreSQL host (Linux). "
                                   "Memory uses pgtune's units: kB/MB/GB, GB meaning GiB. --detect reads this "
                                   "host (cgroup limits included); --conf compares with an existing "
                                   "postgresql.conf; --alter-system prints ALTER SYSTEM statements.")
    p.add_argument("--memory", help="host memory with its unit, e.g. 16GB (or --detect)")
    p.add_argument("--cpus", type=int, help="CPU cores; without it, as in pgtune, no parallel or I/O worker "
                                            "settings are printed and work_mem leaves room for 8 workers")
    p.add_argument("--detect", action="store_true",
                   help="read memory and CPUs from this host: the cgroup's limits where they are lower")
    p.add_argument("--conf", metavar="FILE", help="an existing postgresql.conf: show current → recommended")
    p.add_argument("--alter-system", action="store_true", help="print ALTER SYSTEM statements instead of "
                                                                "postgresql.conf lines")
    p.add_argument("--storage", choices=STORAGES, default="ssd")
    p.add_argument("--workload", choices=WORKLOADS, default="web")
    p.add_argument("--pg-version", type=int, choices=PG_VERSIONS, default=PG_VERSIONS[-1])
    p.add_argument("--connections", type=int, help="max_connections (default: pgtune's per workload)")
    p.add_argument("--db-size", choices=DB_SIZES, default="mid_ram")
    report_options(p, "the recommendations")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..postgres.conffile import alter_system
    from ..postgres.inputs import DEFAULT_CONNECTIONS, PgInputs
    from ..postgres.pgtune import recommend
    from ..postgres.standalone import build_warnings, input_problems
    from ..units import format_bytes_human

    memory, cpus, notes = _host(args)
    for which, allowed in input_problems(memory, cpus, args.connections):
        given = {"memory": args.memory or format_bytes_human(memory), "cpus": cpus, "connections": args.connections}
        raise UsageError(f"--{which} {given[which]}: {allowed}")
    current = _current(args, notes)
    conns = args.connections or DEFAULT_CONNECTIONS[args.workload]
    recs = recommend(PgInputs(memory // 1024, cpus, args.storage, args.workload, args.pg_version, conns,
                              args.db_size))
    warnings = build_warnings(recs)
    if args.format == "json":
        out = {"settings": {k: r.value for k, r in recs.items()}, "warnings": warnings, "notes": notes}
        if args.conf:
            out["current"] = {k: current.get(k) for k in recs}
        print_json(out)
    elif args.alter_system:
        print("".join(f"-- {n}\n" for n in notes + warnings) + alter_system({k: r.value for k, r in recs.items()}), end="")
    elif args.conf:
        _print_changes(recs, current, notes + warnings, args.pg_version)
    else:
        for n in notes:
            print(f"# {n}")
        for k, r in recs.items():
            print(f"{k} = {r.value}\t# {r.reason}")
        for w in warnings:
            print(f"# WARNING: {w}")
    return 0


def _host(args) -> tuple[int, int | None, list[str]]:
    """Memory and CPUs from the flags, or from this host (--detect; a flag still wins)."""
    from ..units import format_bytes_human, parse_size

    notes: list[str] = []
    if args.memory is None and not args.detect:
        raise UsageError("postgres needs --memory SIZE (e.g. 16GB) or --detect")
    memory, cpus = None, args.cpus
    if args.detect:
        from ..postgres.detect import detect

        found = detect()
        memory, cpus = found.memory_bytes, args.cpus or found.cpus
        notes.append(f"detected memory {format_bytes_human(found.memory_bytes)} ({found.memory_from})")
        if not args.cpus:
            notes.append(f"detected {found.cpus} CPUs ({found.cpus_from})")
    if args.memory is not None:
        memory = flag_value("--memory", args.memory, parse_size)
    return memory, cpus, notes


def _current(args, notes: list[str]) -> dict[str, str]:
    """The settings of --conf FILE (its includes are named in the notes, not read)."""
    from ..postgres.conffile import ConfError, parse_conf

    if not args.conf:
        return {}
    try:
        current, includes = parse_conf(Path(args.conf).read_text())
    except OSError as exc:
        raise UsageError(f"--conf {args.conf}: {exc.strerror}") from None
    except ConfError as exc:
        raise UsageError(f"--conf {args.conf}: {exc}") from None
    notes += [f"{args.conf} includes {i}: not read (compare that file too)" for i in includes]
    return current


def _print_changes(recs, current: dict[str, str], notes: list[str], pg_version: int) -> None:
    """current → recommended per setting, with the reason, as timescaledb-tune shows it."""
    from ..postgres.standalone import compare

    changes = compare(recs, current, pg_version)
    for c in changes:
        if c.same:
            print(f"  {c.name} = {c.recommended}  (already)")
        else:
            print(f"~ {c.name}: {c.current if c.current is not None else '(default)'} → {c.recommended}\n      {c.reason}")
    for n in notes:
        print(f"# {n}")
    print(f"{sum(not c.same for c in changes)} of {len(recs)} settings would change")
