"""`tunestack verify`: check a stack's hosts against the plan (pytest-testinfra)."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ..choices import PG_VERSIONS
from ..console import print_json, waiting
from ..errors import UsageError
from .parser import report_options, stack_options, state_dir_option, target_option
from .stacks import require_stack


def register(sub) -> None:
    p = sub.add_parser("verify", help="check a stack's hosts against the plan (pytest-testinfra)",
                       description="Run the testinfra suite in verify/ against a stack's hosts: PostgreSQL SHOW, "
                                   "PgBouncer SHOW CONFIG and its open-file limit, Redis CONFIG GET per role, the "
                                   "app's processes and what it runs with, listening sockets. Prints expected vs "
                                   "actual per host; exits 1 on any mismatch.")
    stack_options(p)
    p.add_argument("--hosts", help="testinfra host specs, e.g. local://, ssh://deploy@10.0.0.5, docker://name "
                                   "(default: local:// for a local stack, else ssh:// to the stack's addresses)")
    p.add_argument("--secrets-dir", help="where pgpass and redis-<role>-password are on the hosts (default: the local "
                                         "stack's state folder, else /etc/tunestack/secrets)")
    p.add_argument("--pg-version", type=int, choices=PG_VERSIONS,
                   help="the PostgreSQL major the hosts run (default: the installed one for a local stack, "
                        "else the stack file's)")
    target_option(p)
    p.add_argument("--ssh-config", help="testinfra's --ssh-config (also used by the docker CLI for docker:// checks "
                                        "on remote Docker hosts)")
    p.add_argument("--ssh-identity-file", help="testinfra's --ssh-identity-file")
    p.add_argument("--sudo", action="store_true", help="testinfra's --sudo: run host checks through sudo")
    p.add_argument("--kernel", action="store_true",
                   help="also check each host's kernel against the plan (sysctl-<host>.conf, thp-<host>.conf: "
                        "overcommit, huge pages, transparent huge pages); off by default because tunestack "
                        "renders these files but does not apply them to a machine")
    p.add_argument("--junit-xml", help="pytest's JUnit XML report (one file per machine for remote Docker stacks)")
    p.add_argument("--collect-only", action="store_true",
                   help="list the checks the plan implies, without connecting to any host")
    report_options(p, "expected vs actual")
    state_dir_option(p)
    p.set_defaults(func=run)


def options(args):
    from ..checks.runs import VerifyOptions

    return VerifyOptions(target=args.target, hosts=args.hosts, secrets_dir=args.secrets_dir,
                         pg_version=args.pg_version, ssh_config=args.ssh_config,
                         ssh_identity_file=args.ssh_identity_file, sudo=args.sudo, junit_xml=args.junit_xml,
                         collect_only=args.collect_only, kernel=args.kernel)


def run(args) -> int:
    from ..checks.report import run_all, run_one
    from ..checks.runs import verify_runs
    from ..checks.ssh import ensure_reachable

    require_stack(args.stack)
    _no_container_cluster(args)
    if not args.collect_only:
        _running_if_local(args)
    with tempfile.TemporaryDirectory() as tmp:
        runs = verify_runs(args.stack, options(args), Path(tmp))
        if args.collect_only:  # list the checks without touching a host
            codes = []
            for one in runs:
                res = run_one(one)
                print((f"# {one.machine}\n" if one.machine else "") + res.stdout.rstrip())
                if res.returncode:
                    print(res.stderr[-3000:], file=sys.stderr)
                codes.append(res.returncode)
            return max(codes)
        ensure_reachable(runs, args.ssh_identity_file)
        where = ", ".join(one.machine or one.hosts for one in runs)
        with waiting(f"verifying stack {args.stack} on {where} …"):
            report = run_all(runs)
    if args.format == "json":
        print_json({"stack": args.stack, "ok": report.exit_code == 0, "passed": len(report.rows) - len(report.failed),
                    "failed": len(report.failed), "could_not_run": report.problems, "checks": report.rows})
        return report.exit_code
    if not report.rows:
        print("\n".join(report.problems), file=sys.stderr)
        return max(report.codes) or 1
    _print(report)
    return report.exit_code


def _no_container_cluster(args) -> None:
    """verify's docker:// checks know the single `<stack>-postgres` and `<stack>-redis-queue`
    containers, not a cluster's nodes, etcd members and Sentinels on several machines: refused with
    exit 2 rather than failing checks of containers that are not there."""
    from .stacks import stack_spec

    if args.target != "docker" or args.hosts:
        return
    spec = stack_spec(args.stack)
    if spec.ha.enabled or spec.queue_ha.enabled:
        raise UsageError(f"verify --target docker does not check a stack with postgres.replicas or "
                         f"redis.queue.replicas yet: `tunestack status --stack {args.stack} --target docker` shows "
                         "each node's role and each container's health; local-ha runs the cluster checks")


def _running_if_local(args) -> None:
    """A stack on this machine must be running: checks of stopped servers prove nothing, and some
    (a refused login) would pass only because nothing answers. Exit 3 with the command that starts it."""
    from ..local import LocalStack
    from ..targets import is_local_stack
    from .stacks import stack_spec

    if args.hosts or args.target != "hosts" or not is_local_stack(stack_spec(args.stack)):
        return
    LocalStack(args.stack).require_running(", so there is nothing to verify")


def row_lines(r: dict, width: int) -> list[str]:
    """One check: `PASS name` on one line when it fits, else its expected and actual below it,
    wrapped at spaces within the terminal's width (a word or a number is never split)."""
    import textwrap

    from ..console import printable

    mark = "PASS" if r["ok"] else "FAIL"
    # What a server reported is shown escaped: a value holding an escape sequence cannot fake a PASS.
    detail = f"expected {printable(r['expected'])}, actual {printable(r['actual'])}"
    one = f"  {mark}  {r['check']}  {detail}"
    if len(one) <= width:
        return [one]
    return [f"  {mark}  {r['check']}"] + textwrap.wrap(detail, width, initial_indent=" " * 8,
                                                        subsequent_indent=" " * 10, break_long_words=False,
                                                        break_on_hyphens=False)


def _print(report) -> None:
    import shutil

    width = shutil.get_terminal_size((80, 24)).columns   # COLUMNS wins; 80 where it cannot tell
    rows, problems = report.rows, report.problems
    for machine in dict.fromkeys(r["machine"] for r in rows):
        if machine:
            print(f"\n== {machine}")
        for host in sorted({r["host"] for r in rows if r["machine"] == machine}):
            mine = [r for r in rows if r["host"] == host and r["machine"] == machine]
            print(f"\nhost {host}: {sum(r['ok'] for r in mine)}/{len(mine)} passed")
            for r in mine:
                print("\n".join(row_lines(r, width)))
    if problems:
        print("\nchecks that could not run:\n" + "\n".join(problems), file=sys.stderr)
    print(f"\n{len(rows) - len(report.failed)} passed, {len(report.failed)} failed"
          + (f", {len(problems)} could not run (see above)" if problems else ""))
