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
    p.add_argument("--write", metavar="FILE", help="write the recommendations into this postgresql.conf (its other "
                                                   "lines kept), after a backup beside it")
    p.add_argument("--dry-run", action="store_true", help="with --write: show the new file, change nothing")
    p.add_argument("--yes", action="store_true", help="with --write: do not ask (needed when not on a terminal)")
    p.add_argument("--restore", metavar="FILE", help="put the newest backup of FILE back (undoes a --write)")
    report_options(p, "the recommendations")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..postgres.conffile import alter_system
    from ..postgres.inputs import DEFAULT_CONNECTIONS, PgInputs
    from ..postgres.pgtune import recommend
    from ..postgres.standalone import build_warnings, input_problems, inputs_line, memory_warnings
    from ..units import format_bytes_human

    if args.restore:
        return _restore(args)
    if args.write and not args.conf:
        args.conf = args.write   # what is there now is what the recommendations are compared with
    memory, cpus, notes = _host(args)
    for which, allowed in input_problems(memory, cpus, args.connections):
        given = {"memory": args.memory or format_bytes_human(memory), "cpus": cpus, "connections": args.connections}
        raise UsageError(f"--{which} {given[which]}: {allowed}")
    current = _current(args, notes)
    conns, conns_from = _connections(args, current, DEFAULT_CONNECTIONS[args.workload])
    recs = recommend(PgInputs(memory // 1024, cpus, args.storage, args.workload, args.pg_version, conns,
                              args.db_size, memory_note=f"{format_bytes_human(memory)} of memory"))
    warnings = build_warnings(recs) + memory_warnings(recs, memory, args.pg_version)
    inputs = inputs_line(args.pg_version, memory, cpus, conns, conns_from, args.storage, args.workload, args.db_size)
    if args.write:
        return _write(args, recs, current, inputs)
    if args.format == "json":
        out = {"inputs": inputs, "settings": {k: r.value for k, r in recs.items()}, "warnings": warnings,
               "notes": notes}
        if args.conf:
            out["current"] = {k: current.get(k) for k in recs}
        print_json(out)
    elif args.alter_system:
        print("".join(f"-- {n}\n" for n in notes + warnings) + alter_system({k: r.value for k, r in recs.items()}), end="")
    elif args.conf:
        _print_changes(recs, current, notes + warnings, args.pg_version, inputs)
    else:
        # A postgresql.conf fragment to paste: each reason as comment lines above its setting,
        # wrapped to 80 columns (a comment cannot continue past a line break).
        print(comment(f"inputs: {inputs}"))
        for n in notes:
            print(comment(n))
        for k, r in recs.items():
            print(f"{comment(r.reason)}\n{k} = {r.value}")
        for w in warnings:
            print(comment(f"WARNING: {w}"))
    return 0


def comment(text: str, width: int = 80) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width, initial_indent="# ", subsequent_indent="#   ",
                                    break_long_words=False, break_on_hyphens=False))


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


def _print_changes(recs, current: dict[str, str], notes: list[str], pg_version: int, inputs: str = "") -> list:
    """current → recommended per setting, with the reason, as timescaledb-tune shows it; a setting
    the file leaves at PostgreSQL's default counts as that default; restart-needing ones marked."""
    from ..postgres.standalone import compare

    if inputs:
        print(comment(f"inputs: {inputs}"))
    changes = compare(recs, current, pg_version)
    for c in changes:
        was = c.current if c.current is not None else f"{c.default} (PostgreSQL's default)"
        if c.same:
            print(f"  {c.name} = {c.recommended}  (already{', the default' if c.current is None else ''})")
        else:
            print(f"~ {c.name}: {was} → {c.recommended}" + ("  [restart]" if c.restart else "") + f"\n      {c.reason}")
    for n in notes:
        print(f"# {n}")
    changed = [c for c in changes if not c.same]
    restart = [c.name for c in changed if c.restart]
    print(f"{len(changed)} of {len(recs)} settings would change"
          + (f"; {', '.join(restart)} need a restart" if restart else ""))
    return changed


def _connections(args, current: dict[str, str], pgtune_default: int) -> tuple[int, str]:
    """--connections, else the file's max_connections (never lowered unasked), else pgtune's."""
    if args.connections:
        return args.connections, "given"
    if current.get("max_connections", "").isdigit():
        return int(current["max_connections"]), "the file's max_connections"
    return pgtune_default, f"pgtune's for {args.workload}"


def _write(args, recs, current: dict[str, str], inputs: str) -> int:
    """--write FILE: show what changes, ask (unless --yes), back the file up, write it."""
    import sys

    from ..postgres import confwrite

    path = Path(args.write)
    if not (args.yes or args.dry_run or sys.stdin.isatty()):
        raise UsageError(f"--write {path}: add --yes to write without asking (not on a terminal)")
    changed = _print_changes(recs, current, [], args.pg_version, inputs)
    if not changed:
        print(f"{path}: nothing to write")
        return 0
    text = confwrite.with_recommendations(path.read_text(), {c.name: c.recommended for c in changed}, args.pg_version)
    if args.dry_run:
        print(f"\n--dry-run: {path} would become:\n{text}", end="")
        return 0
    if not args.yes:
        if input(f"write {len(changed)} change(s) to {path}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing was written")
            return 0
    backup = confwrite.write(path, text)
    print(f"written {path}; the old file is {backup} (undo: tunestack postgres --restore {path})")
    return 0


def _restore(args) -> int:
    from ..postgres import confwrite

    path = Path(args.restore)
    try:
        backup = confwrite.restore(path)
    except FileNotFoundError as exc:
        raise UsageError(f"--restore {path}: {exc}") from None
    print(f"restored {path} from {backup}")
    return 0
