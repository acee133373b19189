"""`tunestack advise`: read a running stack's counters and propose stack-file changes."""
from __future__ import annotations

from ..console import fit, print_json, printable
from ..units import parse_seconds, plural, utc_timestamp
from .parser import flag_value, report_options, stack_options, state_dir_option, target_option
from .stacks import stack_spec


def register(sub) -> None:
    p = sub.add_parser("advise", help="read a running stack's counters and propose stack-file changes",
                       description="Sample the running stack's own counters (PostgreSQL's pg_stat_database, "
                                   "checkpoints and WAL; PgBouncer's SHOW POOLS and SHOW STATS; Redis INFO; the job "
                                   "queue's depth), compare with the oldest sample within --since, and name, per "
                                   "finding, the measurement, the rule and its source, the stack-file change and its "
                                   "effect. Nothing changes by itself: --write puts the changes in the stack file "
                                   "(comments and order kept) for review. Each run stores its sample; the first "
                                   "says \"not enough data\".")
    stack_options(p)
    p.add_argument("--since", default=None,
                   help="how far back to compare, e.g. 15m: with the stack's Prometheus (tunestack:monitoring) its "
                        "counters then (default 24h, bounded by when the running plan was applied and by what "
                        "Prometheus holds); otherwise the oldest sample advise stored this recent (default 1h)")
    p.add_argument("--write", action="store_true", help="write the proposed changes into the stack file")
    target_option(p)
    p.add_argument("--secrets-dir", help="where the password files are on the hosts (default: the local stack's "
                                         "state folder, else /etc/tunestack/secrets)")
    p.add_argument("--ssh-config", help="an ssh config for remote hosts and Docker engines (as verify takes it)")
    p.add_argument("--ssh-identity-file", help="an ssh key for remote hosts (as verify takes it)")
    report_options(p, "the findings")
    state_dir_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """Sample the stack's counters, compare with the oldest sample in the window, propose changes."""
    from ..advise.collect import Reach, sample
    from ..advise.rules import MIN_WINDOW_S, advise, notes, top_statements
    from ..advise.samples import baseline, within
    from ..advise.write import write_checked

    spec = stack_spec(args.stack)
    if args.since is not None:   # bad input: exit 2 before any server is read
        flag_value("--since", args.since, parse_seconds)
    plan, store, now = sample(args.stack, spec, Reach(args.target, args.secrets_dir, args.ssh_config,
                                                      args.ssh_identity_file))
    now["plan"] = plan.digest()   # advice compares samples taken under one plan only
    history = from_prometheus(args, plan, now)
    since = flag_value("--since", args.since or "1h", parse_seconds)
    past = store.add(now, since)
    before, source = history if history else (baseline(past, now, since), "advise's own samples")
    if before is None:
        changed = bool(within(past, now, since))   # samples there are, under another plan
        message = ((f"the plan changed since the earlier samples: the window starts again now; " if changed else
                    "not enough data yet: ") +
                   f"this sample is stored; run advise again after at least {MIN_WINDOW_S} s "
                   f"of traffic (compares with the oldest sample in the last {args.since or '1h'})")
        if args.format == "json":
            print_json({"stack": args.stack, "window_s": None, "window_source": None, "findings": [],
                        "not_enough_data": [message]})
        else:
            print(fit(message, 0))
        return 0
    findings, no_data = advise(before, now, plan)
    top = top_statements(before.get("postgres", {"error": ""}), now.get("postgres", {"error": ""}))
    said = notes(before, now)
    written = write_checked(args.stack, findings) if args.write and findings else None
    if args.format == "json":
        print_json({"stack": args.stack, "window_s": round(now["at"] - before["at"]), "window_source": source,
                    "findings": [f.to_json() for f in findings], "notes": said, "top_statements": top,
                    "app": now.get("app"),
                    "not_enough_data": [f"{n.area}: {n.why}" for n in no_data], "written": written})
        return 0
    _print_findings(args.stack, now["at"] - before["at"], findings, no_data, written, source)
    for note in said:
        print("\n" + fit(f"note: {printable(note)}", 6))
    _print_app(now.get("app") or {})
    _print_top(top)
    return 0


def from_prometheus(args, plan, now: dict) -> tuple[dict, str] | None:
    """The window's first counters from the local stack's Prometheus, and what set the window; None
    where it runs none (or does not answer), or holds less than MIN_WINDOW_S of them."""
    from ..advise.collect import applied_at
    from ..advise.history import baseline_from
    from ..advise.rules import MIN_WINDOW_S
    from ..plan.monitoring import api_address, runs
    from ..targets import is_local_stack

    if not (runs(plan) and is_local_stack(plan.spec) and args.target == "hosts"):
        return None
    since = flag_value("--since", args.since or "24h", parse_seconds)
    prometheus = api_address(plan, "prometheus")
    found = baseline_from(prometheus, now["at"], since, applied_at(args.stack),
                          plan.monitoring["scrape_interval"].value / 1000)
    if found is None or now["at"] - found[1].start < MIN_WINDOW_S:
        return None
    before, window = found
    return before, f"Prometheus at {prometheus}, from {utc_timestamp(window.start)} ({window.why})"


def _print_findings(stack: str, seconds: float, findings, no_data, written, source: str) -> None:
    print(f"stack {stack}: {plural(len(findings), 'finding')} over the last {seconds:.0f} s")
    print(fit(f"  the counters then: {source}", 4))
    # Findings quote what servers said (table names, error text): shown escaped, never raw.
    for f in findings:
        print(f"\n{printable(f.area)}")
        for label, text in (("seen", f.measurement), ("rule", f.rule), ("change", f.change), ("effect", f.effect)):
            print(fit(f"  {label + ':':<8} {printable(text)}", 11))
    for n in no_data:
        print("\n" + fit(f"not enough data: {printable(n.area)}: {printable(n.why)}", 4))
    if written:
        print("\n" + fit(f"written to {written}: review it with `tunestack review --base HEAD` and open a pull "
                          "request", 4))
    elif findings:
        print("\nnothing was changed: `--write` puts these changes in the stack file")


def _print_app(app: dict) -> None:
    if "puma_backlog" in app:
        print("\n" + fit(f"the app now (Puma's stats): {app['puma_backlog']:g} requests waiting for a thread, "
                          f"{app['puma_pool_capacity']:g} of {app['puma_max_threads']:g} threads free", 4))
    elif "db_pool_max" in app:
        print("\n" + fit(f"the app now (its metrics): {app['db_pool_in_use']:g} of {app['db_pool_max']:g} DB pool "
                          "connections in use", 4))


def _print_top(top: list[dict]) -> None:
    if not top:
        return
    print("\n" + fit("the statements that cost the server most in the window (pg_stat_statements):", 4))
    for s in top:
        print(f"  {s['total_ms']:>10.1f} ms  {s['calls']:>7} calls  {s['mean_ms']:>8.2f} ms each  "
              f"{s['temp_blocks_written']:>6} temp blocks")
        print(fit(f"      {printable(s['query'])}", 6))
