"""Command line: `tunestack <command> --help` explains each command (`python -m tunestack` works too)."""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .choices import DB_SIZES, PG_VERSIONS, STORAGES, TARGETS, WORKLOADS
from .errors import BudgetError, EnvironmentProblem, StackError, UsageError
from .lock import LockHeld
from .console import print_json
from .units import plural
from .render import UnsafeValue, supervisor_env_value

EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3   # a missing package, an unreachable host, a held lock


def _require_stack(name: str) -> None:
    from . import stackfile
    from .paths import stacks_dir

    import difflib

    names = stackfile.stack_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        raise UsageError(f"unknown stack {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                         + f" Stacks in {stacks_dir()}: " + ", ".join(names))


def _plan_from_args(args, strict=True):
    from .plan import plan_stack

    if getattr(args, "stack_file", None):
        return plan_stack(args.stack_file, is_path=True, strict=strict)
    _require_stack(args.stack)
    return plan_stack(args.stack, strict=strict, pg_version=getattr(args, "pg_version", None))


def cmd_plan(args) -> int:
    plan = _plan_from_args(args, strict=False)
    if args.format == "json":
        print_json(plan.to_json())
    else:
        print_plan(plan)
    if plan.violations:
        print(str(BudgetError(plan.stack, plan.violations, plan.spec.path)), file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def shown_value(s) -> str:
    """A setting's text as its file receives it, with the human size beside exact bytes."""
    from .units import format_bytes_human

    if s.unit == "bytes" and isinstance(s.value, int) and s.text.isdigit() and s.value >= 1024:
        return f"{s.text} ({format_bytes_human(s.value)})"
    return s.text


def print_plan(plan) -> None:
    """Every section as a table that wraps to the terminal (80 columns when it cannot tell)."""
    from .console import out, trimmed

    with trimmed(out()) as console:
        _print_plan(console, plan)


def _print_plan(console, plan) -> None:
    from rich.padding import Padding
    from rich.text import Text

    from .console import print_settings
    from .units import format_bytes_human, plural

    console.print(Text(f"stack {plan.stack}  ({plan.spec.path})", style="bold"))
    console.print("\nhosts", style="bold underline")
    for h in plan.hosts:
        console.print(Text(f"  {h.name} ×{h.count}: {','.join(h.roles)}, {plural(h.cpus, 'cpu')}, "
                           f"{format_bytes_human(h.memory_bytes)}  [{h.shape_source}]"))
    for section, settings in plan.sections().items():
        console.print("\n" + section, style="bold underline")
        print_settings(console, [(name, shown_value(s), s.reason + (" [override]" if s.source == "override" else ""))
                                 for name, s in settings.items()])
    console.print("\nbudgets", style="bold underline")
    for b in plan.budgets:
        mark = Text("ok", style="green") if b.ok else Text("BROKEN", style="bold red")
        console.print(Text.assemble("  [", mark, f"] {b.name}"))
        console.print(Padding(Text(b.arithmetic, style="dim"), (0, 0, 0, 6), expand=False))
    if plan.warnings:
        console.print("\nwarnings", style="bold underline")
        for w in plan.warnings:
            console.print(Text(f"  - {w}", style="yellow"))


def cmd_render(args) -> int:
    from . import stackfile
    from .paths import RENDERED
    from .plan import plan_stack
    from .render import render_plan, write

    if args.all or args.check:
        names = stackfile.stack_names()
        # Plan everything first: a bad stack stops the run before any file is written.
        plans = {n: plan_stack(n) for n in names}
        out_root = Path(args.out) if args.out else RENDERED
        stale, written = [], {}
        for name, plan in plans.items():
            files = render_plan(plan)
            target = out_root / name
            if args.check:
                present = {p.name: p.read_text() for p in target.glob("*")} if target.exists() else {}
                if present != files:
                    stale.append(name)
            else:
                written[name] = [str(p) for p in write(files, target)]
                if args.format == "text":
                    print(f"{name}: {len(files)} files in {target}")
        if args.format == "json":
            print_json({"stale": stale} if args.check else {"stacks": written})
        if args.check:
            if stale:
                print("out of date: " + ", ".join(stale) + ". Run: tunestack render --all",
                      file=sys.stderr)
                return 1
            if args.format == "text":
                print(f"rendered/ matches a fresh render of {len(names)} stacks")
        return 0
    if not args.out:
        raise UsageError("render needs --out DIR (with --stack NAME or --stack-file PATH), or --all (refresh "
                         "rendered/), or --check")
    plan = _plan_from_args(args)
    paths = [str(p) for p in write(render_plan(plan), Path(args.out))]
    if args.format == "json":
        print_json({"stack": plan.stack, "out": args.out, "files": paths})
    else:
        print("\n".join(paths))
    return 0


def cmd_postgres(args) -> int:
    from .postgres.conffile import ConfError, alter_system, parse_conf
    from .postgres.inputs import DEFAULT_CONNECTIONS, PgInputs
    from .postgres.pgtune import recommend
    from .units import UnitError, format_bytes_human, parse_size

    memory, cpus, notes = _postgres_host(args, parse_size, UnitError, format_bytes_human)
    if memory < 512 * 1024**2:
        raise UsageError(f"--memory {args.memory or format_bytes_human(memory)}: at least 512MB (pgtune's minimum)")
    if cpus is not None and cpus < 1:
        raise UsageError(f"--cpus {cpus}: at least 1")
    if args.connections is not None and args.connections < 20:
        raise UsageError(f"--connections {args.connections}: at least 20 (pgtune's minimum)")
    current: dict[str, str] = {}
    if args.conf:
        try:
            current, includes = parse_conf(Path(args.conf).read_text())
        except OSError as exc:
            raise UsageError(f"--conf {args.conf}: {exc.strerror}") from None
        except ConfError as exc:
            raise UsageError(f"--conf {args.conf}: {exc}") from None
        notes += [f"{args.conf} includes {i}: not read (compare that file too)" for i in includes]
    conns = args.connections or DEFAULT_CONNECTIONS[args.workload]
    recs = recommend(PgInputs(memory // 1024, cpus, args.storage, args.workload, args.pg_version, conns,
                              args.db_size))
    # pgtune's own warnings for settings a server may not be built for.
    warnings = [f"{name} = {value} requires PostgreSQL built with {flag}"
                for name, value, flag in (("wal_compression", "lz4", "--with-lz4"), ("io_method", "io_uring", "--with-liburing"))
                if name in recs and recs[name].value == value]
    if args.format == "json":
        out = {"settings": {k: r.value for k, r in recs.items()}, "warnings": warnings, "notes": notes}
        if args.conf:
            out["current"] = {k: current.get(k) for k in recs}
        print_json(out)
    elif args.alter_system:
        print("".join(f"-- {n}\n" for n in notes + warnings) + alter_system({k: r.value for k, r in recs.items()}), end="")
    elif args.conf:
        _print_postgres_changes(recs, current, notes + warnings, args.pg_version)
    else:
        for n in notes:
            print(f"# {n}")
        for k, r in recs.items():
            print(f"{k} = {r.value}\t# {r.reason}")
        for w in warnings:
            print(f"# WARNING: {w}")
    return 0


def _postgres_host(args, parse_size, UnitError, format_bytes_human) -> tuple[int, int | None, list[str]]:
    """Memory and CPUs from the flags, or from this host (--detect; a flag still wins)."""
    notes: list[str] = []
    if args.memory is None and not args.detect:
        raise UsageError("postgres needs --memory SIZE (e.g. 16GB) or --detect")
    memory, cpus = None, args.cpus
    if args.detect:
        from .postgres.detect import detect

        found = detect()
        memory, cpus = found.memory_bytes, args.cpus or found.cpus
        notes.append(f"detected memory {format_bytes_human(found.memory_bytes)} ({found.memory_from})")
        if not args.cpus:
            notes.append(f"detected {found.cpus} CPUs ({found.cpus_from})")
    if args.memory is not None:
        try:
            memory = parse_size(args.memory)
        except UnitError as exc:
            raise UsageError(f"--memory {args.memory!r}: {exc}") from None
    return memory, cpus, notes


def _print_postgres_changes(recs, current: dict[str, str], notes: list[str], pg_version: int) -> None:
    """current → recommended per setting, with the reason, as timescaledb-tune shows it."""
    from .postgres.catalog import catalog
    from .units import UnitError, pg_value_in_base_units

    gucs = catalog(pg_version)

    def same(name: str, a: str | None, b: str) -> bool:
        if a is None:
            return False
        try:
            unit = gucs[name].unit if name in gucs else None
            return pg_value_in_base_units(a, unit) == pg_value_in_base_units(b, unit)
        except (UnitError, ValueError):
            return a.strip().lower() == b.strip().lower()

    changed = 0
    for k, r in recs.items():
        now = current.get(k)
        if same(k, now, r.value):
            print(f"  {k} = {r.value}  (already)")
            continue
        changed += 1
        print(f"~ {k}: {now if now is not None else '(default)'} → {r.value}\n      {r.reason}")
    for n in notes:
        print(f"# {n}")
    print(f"{changed} of {len(recs)} settings would change")


def cmd_preview(args) -> int:
    from .console import waiting

    _require_stack(args.stack)
    # Validate first, so a bad file gives the usual error and the program never starts.
    from .plan import plan_stack
    plan_stack(args.stack, target="docker")
    from components.preview import preview, preview_json

    with waiting(f"running the Pulumi program of {args.stack} under mocks …"):
        if args.format == "json":
            print_json(preview_json(args.stack, canary_weight=args.canary_weight))
        else:
            print(preview(args.stack, canary_weight=args.canary_weight))
    return 0


def cmd_images(args) -> int:
    """`images build`: the project's images on one engine. `images check`: does every machine of a
    stack have, or can it get, each image it runs? Run it before `pulumi up`."""
    from . import images

    if args.action == "build":
        import docker

        url = args.docker_host or os.environ.get("DOCKER_HOST") or images.LOCAL_SOCKET
        try:
            client = docker.DockerClient(base_url=url, use_ssh_client=url.startswith("ssh://"), timeout=600)
            client.ping()
        except Exception as exc:  # the SDK raises several kinds for an unreachable engine
            print(f"error: no Docker engine at {url}: {str(exc).splitlines()[0]}", file=sys.stderr)
            return EXIT_ENVIRONMENT
        from .console import say, waiting

        try:
            with waiting(f"building the project's images on {url} (debootstrap and every image: minutes) …"):
                built = images.build(client, say=say)
        except images.ImageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"built {plural(len(built), 'image')} on {url}: " + (", ".join(built) or "all were there"))
        return 0
    from .plan import plan_stack
    from .stackfile import load

    if args.stack_file:
        from .plan import build_plan

        plan = build_plan(load(Path(args.stack_file)), target="docker")
    else:
        _require_stack(args.stack)
        plan = plan_stack(args.stack, target="docker")
    rows = images.check(plan)
    bad = [r for r in rows if r["state"] in ("missing", "unreachable", "buildable")]
    if args.format == "json":
        print(json.dumps({"stack": plan.stack, "images": rows, "ok": not bad}, indent=2))
    else:
        for r in rows:
            print(f"{r['machine']:<14} {r['image']:<40} {r['state']:<11} {r['detail']}")
    if bad:
        print(f"\n{plural(len(bad), 'image')} of stack {plan.stack} cannot be had: `pulumi up` would stop at them. Fix:",
              file=sys.stderr)
        for r in bad:
            fix = {"buildable": f"build it there: {r['detail']}",
                   "missing": f"push {r['image']} to its registry, or name another tag in tunestack:images",
                   "unreachable": f"make the engine at {r['engine']} reachable ({r['detail']})"}[r["state"]]
            print(f"  {r['machine']} {r['image']}: {fix}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _local(args):
    """The local stack; what it does is reported on stdout, or on stderr when stdout is JSON."""
    from .console import say
    from .local import LocalStack

    _require_stack(args.stack)
    if getattr(args, "format", "text") == "json":
        return LocalStack(args.stack, say=say)
    return LocalStack(args.stack, say=lambda m: print(m, flush=True))


def _locked(stack, command: str, args):
    """The stack's lock for a command that changes it (see tunestack/lock.py)."""
    from .lock import stack_lock

    return stack_lock(stack.dir / "lock", command, wait_s=args.lock_wait, say=lambda m: print(m, flush=True))


def cmd_up(args) -> int:
    from .local import LocalStackError

    stack = _local(args)
    stack.plan()   # a bad stack file is exit 2 before the lock is even taken
    from .console import waiting

    try:
        with _locked(stack, f"up --stack {args.stack}", args), waiting(f"bringing {args.stack} up …"):
            stack.up()
    except LocalStackError as exc:
        print(f"up failed: {stack.redact(str(exc))}", file=sys.stderr)
        return 1
    if args.format == "json":
        print_json(stack.status_json())
    else:
        print(stack.status())
    return 0


def cmd_down(args) -> int:
    stack = _local(args)
    with _locked(stack, f"down --stack {args.stack}", args):
        stack.down()
    if args.format == "json":
        print_json(stack.status_json())
    return 0


def cmd_status(args) -> int:
    stack = _local(args)
    if args.format == "json":
        print_json(stack.status_json())
    else:
        print(stack.status())
    return 0


def _app_containers(placement) -> list[str]:
    """The running app containers of a stack's replicas on this machine's Docker engine (DOCKER_HOST):
    single-host replicas are named per generation, so they are found by their replica label."""
    import docker

    client = docker.from_env()
    names = []
    for replica in placement.replicas:
        found = client.containers.list(filters={"label": f"tunestack.replica={replica.name}"})
        names += sorted(c.name for c in found) or [replica.name]
    return names


def _host_spec(text: str) -> str:
    """A testinfra host spec that reaches ssh only as [user@]host[:port], never as an option."""
    from .stackfile.load import _is_address

    m = re.match(r"^(local|docker|ssh|paramiko)://(?:([a-z_][a-z0-9_-]{0,31})@)?([^:/@?]*)(?::([0-9]{1,5}))?$",
                 text.strip())
    if m and (m.group(1) == "local" and not m.group(3) or m.group(1) == "docker" and
              re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", m.group(3)) or _is_address(m.group(3))):
        return text.strip()
    raise UsageError(f"--hosts {text!r}: write local://, docker://CONTAINER or ssh://[user@]host[:port] "
                     "with a host name or IP address")


@dataclass
class VerifyRun:
    """One pytest run of verify/: the machine it checks, its testinfra hosts and environment."""
    machine: str
    hosts: str
    cmd: list[str]
    env: dict[str, str] | None = None


def _testinfra_options(args, machine: str = "") -> list[str]:
    """testinfra's own options, passed through: ssh config, identity file, sudo, junit output."""
    out = []
    if args.ssh_config:
        out.append(f"--ssh-config={args.ssh_config}")
    if args.ssh_identity_file:
        out.append(f"--ssh-identity-file={args.ssh_identity_file}")
    if args.sudo:
        out.append("--sudo")
    if args.junit_xml:
        path = Path(args.junit_xml)
        out.append(f"--junit-xml={path.with_name(f'{path.stem}-{machine}{path.suffix}') if machine else path}")
    return out


def _ssh_env(args, tmp: Path) -> dict[str, str] | None:
    """With --ssh-config, the docker CLI (docker:// checks over DOCKER_HOST=ssh://…) must read it
    too: an `ssh` on PATH that always passes it."""
    if not args.ssh_config:
        return None
    wrapper = tmp / "bin" / "ssh"
    wrapper.parent.mkdir(exist_ok=True)
    wrapper.write_text(f"#!/bin/sh\nexec /usr/bin/ssh -F {shlex.quote(str(Path(args.ssh_config).resolve()))} \"$@\"\n")
    wrapper.chmod(0o700)
    return {**os.environ, "PATH": f"{wrapper.parent}:{os.environ['PATH']}"}


def verify_runs(args, tmp: Path) -> list[VerifyRun]:
    """The pytest runs that check a stack: one for a stack on this machine (or given --hosts), and
    one per machine for a Docker stack on remote hosts, each with DOCKER_HOST=ssh://… so that the
    docker:// checks run inside that machine's containers and the ssh:// checks on the machine.

    Every expectation comes from the plan: the stack, its PostgreSQL major and where services run.
    A stack whose hosts are all this machine is the local stack: planned for the installed
    PostgreSQL, with its secrets in the local state folder."""
    from . import stackfile
    from .images import RUNS_AS, docker_url
    from .local import LocalStack
    from .paths import VERIFY
    from .plan import plan_stack
    from .plan.placement import container_name
    from .render import Layout
    from .servers import installed_pg_major, installed_ruby

    spec = stackfile.load(stackfile.stack_path(args.stack), name=args.stack)
    local = all(h.is_local for h in spec.hosts)
    pg_version = args.pg_version or (installed_pg_major() if local and args.target == "hosts" else None)
    on_this_machine = local and args.target == "hosts"   # the local stack, under supervisord
    secrets = args.secrets_dir or (str(LocalStack(args.stack).secrets_dir) if on_this_machine else Layout().secrets_dir)

    def command(hosts: str, report: Path, machine: str = "") -> list[str]:
        cmd = [sys.executable, "-m", "pytest", str(VERIFY), "-p", "no:cacheprovider", "-q", "--no-header", "-rfE",
               "--tb=line", f"--hosts={hosts}", "--stack", args.stack, "--target", args.target,
               "--secrets-dir", secrets, "--report", str(report), *_testinfra_options(args, machine)]
        if pg_version:
            cmd += ["--pg-version", str(pg_version)]
        if local and args.target == "hosts" and installed_ruby():
            cmd += ["--host-ruby", installed_ruby()]   # what `up` planned a rails stack without app.ruby for
        if args.collect_only:
            cmd += ["--collect-only"]
        if args.kernel:
            cmd += ["--kernel"]
        return cmd

    if args.hosts:
        hosts = ",".join(_host_spec(h) for h in args.hosts.split(","))
    elif local and args.target == "docker":   # the stack's containers on this machine's engine
        placement = plan_stack(args.stack, target="docker").placement
        specs = [f"docker://{RUNS_AS[s]}@{container_name(args.stack, s)}"
                 for s in ("postgres", "pgbouncer", "redis-cache", "redis-queue", "lb")]
        hosts = ",".join(specs + [f"docker://{RUNS_AS['app']}@{name}" for name in _app_containers(placement)])
    elif local:
        hosts = "local://"
    elif not args.hosts and any(not h.addresses for h in spec.hosts):
        lacking = [h.name for h in spec.hosts if not h.addresses]
        raise UsageError(f"{stackfile.stack_path(args.stack)}: config → tunestack:hosts → {lacking[0]} → addresses: "
                         f"missing, while other hosts of the stack are remote; verify reaches every host over SSH. "
                         f"Fix: give {', '.join(lacking)} its addresses (and ssh_user), or pass --hosts")
    elif args.target == "docker":
        plan = plan_stack(args.stack, target="docker")
        env = _ssh_env(args, tmp)
        runs = []
        container_of = {"postgres": "postgres", "pgbouncer": "pgbouncer", "redis-cache": "redis-cache",
                        "redis-queue": "redis-queue", "haproxy": "lb"}
        for h in spec.hosts:
            for i, address in enumerate(h.addresses):
                machine = h.name if h.count == 1 else f"{h.name}-{i + 1}"
                specs = [f"ssh://{h.ssh_user + '@' if h.ssh_user else ''}{address}"]
                specs += [f"docker://{RUNS_AS[c]}@{container_name(args.stack, c)}" for s, c in container_of.items()
                          if plan.placement[s].host.name == h.name and i == 0]
                specs += [f"docker://{RUNS_AS['app']}@{r.name}" for r in plan.replicas
                          if r.host == h.name and r.machine == i]
                hosts = ",".join(specs)
                runs.append(VerifyRun(f"{machine} ({docker_url(h, i)})", hosts,
                                      command(hosts, tmp / f"report-{machine}.json", machine),
                                      {**(env or os.environ), "DOCKER_HOST": docker_url(h, i)}))
        return runs
    else:
        hosts = ",".join(f"ssh://{h.ssh_user + '@' if h.ssh_user else ''}{a}" for h in spec.hosts for a in h.addresses)
    return [VerifyRun("", hosts, command(hosts, tmp / "report.json"), _ssh_env(args, tmp))]


def _ssh_reachable(args, runs: list[VerifyRun]) -> None:
    """Every ssh:// host answers before any check runs; else exit 2 naming the host and the fix."""
    import subprocess

    for run in runs:
        for target in [h for h in run.hosts.split(",") if h.startswith("ssh://")]:
            user_host = target[len("ssh://"):]
            # With --ssh-config, `ssh` in run.env is the wrapper that passes it (_ssh_env).
            cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
            cmd += ["-i", args.ssh_identity_file] if args.ssh_identity_file else []
            res = subprocess.run([*cmd, user_host, "true"], capture_output=True, text=True, timeout=30, env=run.env)
            if res.returncode == 0:
                continue
            said = res.stderr.strip().splitlines()
            if "IDENTIFICATION HAS CHANGED" in res.stderr or "Host key verification failed" in res.stderr:
                fix = (f"the host key of {user_host.split('@')[-1]} is not the one on record: if the machine was "
                       f"rebuilt, check its new key and remove the old one (ssh-keygen -R {user_host.split('@')[-1]})")
            elif "Permission denied" in res.stderr:
                fix = "the SSH user or key is refused: check ssh_user in the stack file, --ssh-identity-file or --ssh-config"
            else:
                fix = "the host does not answer over SSH: check its address in the stack file and that sshd runs"
            raise EnvironmentProblem(f"{run.machine or user_host}: {target} — {said[-1] if said else 'ssh failed'}\n"
                                     f"  fix: {fix}")


def cmd_verify(args) -> int:
    import subprocess
    import tempfile

    from .paths import ROOT

    _require_stack(args.stack)
    rows, problems, codes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        runs = verify_runs(args, Path(tmp))
        if not args.collect_only:
            _ssh_reachable(args, runs)
        if args.collect_only:  # list the checks without touching a host
            for run in runs:
                res = subprocess.run(run.cmd, cwd=ROOT, capture_output=True, text=True, env=run.env)
                print((f"# {run.machine}\n" if run.machine else "") + res.stdout.rstrip())
                if res.returncode:
                    print(res.stderr[-3000:], file=sys.stderr)
                codes.append(res.returncode)
            return max(codes)
        # Machines are checked at once (each its own pytest): over SSH the time goes to round
        # trips, not to this machine's CPU. Results are shown in the stack's order.
        from concurrent.futures import ThreadPoolExecutor

        def check(run):
            return subprocess.run(run.cmd, cwd=ROOT, capture_output=True, text=True, env=run.env)

        from .console import waiting

        where = ", ".join(run.machine or run.hosts for run in runs)
        with waiting(f"verifying stack {args.stack} on {where} …"), \
                ThreadPoolExecutor(max_workers=min(8, len(runs))) as pool:
            results = list(pool.map(check, runs))
        for run, res in zip(runs, results):
            report = Path(run.cmd[run.cmd.index("--report") + 1])
            mine = json.loads(report.read_text()) if report.exists() else []
            for r in mine:
                r["machine"] = run.machine
            rows += mine
            codes.append(res.returncode)
            if res.returncode:   # checks that could not run at all: pytest failures with no row of their own
                recorded = {r["check"] for r in mine if not r["ok"]}
                unrecorded = [line for line in (res.stdout + res.stderr).splitlines()
                              if line.startswith(("ERROR", "FAILED"))
                              and line.split("::")[-1].split(" - ")[0].strip() not in recorded]
                if unrecorded or not recorded:
                    problems += [f"{run.machine}: {line}" if run.machine else line for line in unrecorded] \
                        or [f"{run.machine}: {(res.stdout + res.stderr)[-1500:]}"]
    failed = [r for r in rows if not r["ok"]]
    code = 1 if failed or any(codes) or not rows else 0
    if args.format == "json":
        print_json({"stack": args.stack, "ok": code == 0, "passed": len(rows) - len(failed), "failed": len(failed),
                    "could_not_run": problems, "checks": rows})
        return code
    if not rows:
        print("\n".join(problems), file=sys.stderr)
        return max(codes) or 1
    _print_verify(rows, problems)
    return code


def _print_verify(rows: list[dict], problems: list[str]) -> None:
    for machine in dict.fromkeys(r["machine"] for r in rows):
        if machine:
            print(f"\n== {machine}")
        for host in sorted({r["host"] for r in rows if r["machine"] == machine}):
            mine = [r for r in rows if r["host"] == host and r["machine"] == machine]
            print(f"\nhost {host}: {sum(r['ok'] for r in mine)}/{len(mine)} passed")
            width = max(len(r["check"]) for r in mine)
            for r in mine:
                mark = "PASS" if r["ok"] else "FAIL"
                print(f"  {mark}  {r['check']:<{width}}  expected {r['expected']:<24} actual {r['actual']}")
    failed = [r for r in rows if not r["ok"]]
    if problems:
        print("\nchecks that could not run:\n" + "\n".join(problems), file=sys.stderr)
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed"
          + (f", {len(problems)} could not run (see above)" if problems else ""))


def cmd_advise(args) -> int:
    """Sample the stack's counters, compare with the oldest sample in the window, propose changes."""
    import testinfra

    from . import stackfile
    from .advise.rules import MIN_WINDOW_S, advise, notes, top_statements
    from .advise.snapshot import take
    from .local import LocalStack
    from .rollout import parse_bake

    _require_stack(args.stack)
    spec = stackfile.load(stackfile.stack_path(args.stack), name=args.stack)
    since = parse_bake(args.since)
    if all(h.is_local for h in spec.hosts) and args.target == "hosts":   # the local stack, under supervisord
        local = LocalStack(args.stack)
        plan = local.plan()
        if not local.supervisor_running():
            raise EnvironmentProblem(f"stack {args.stack} is not running; start it with: tunestack up --stack {args.stack}")
        store = local.dir / "advise-samples.jsonl"
        now = take(testinfra.get_host("local://"), plan, str(local.secrets_dir))
    else:
        plan, store, now = _advise_remote(args, spec)
    past = [json.loads(line) for line in store.read_text().splitlines() if line.strip()] if store.exists() else []
    keep = [s for s in past if now["at"] - s["at"] <= max(since, 86_400)] + [now]
    store.write_text("".join(json.dumps(s) + "\n" for s in keep))
    store.chmod(0o600)
    usable = [s for s in past if MIN_WINDOW_S <= now["at"] - s["at"] <= since]
    if not usable:
        message = (f"not enough data yet: this sample is stored; run advise again after at least {MIN_WINDOW_S} s "
                   f"of traffic (compares with the oldest sample in the last {args.since})")
        if args.format == "json":
            print_json({"stack": args.stack, "window_s": None, "findings": [], "not_enough_data": [message]})
        else:
            print(message)
        return 0
    before = min(usable, key=lambda s: s["at"])
    findings, no_data = advise(before, now, plan)
    top = top_statements(before.get("postgres", {"error": ""}), now.get("postgres", {"error": ""}))
    said = notes(before, now)
    written = None
    if args.write and findings:
        written = _write_advice(args.stack, findings)
    if args.format == "json":
        print_json({"stack": args.stack, "window_s": round(now["at"] - before["at"]),
                    "findings": [f.to_json() for f in findings], "notes": said, "top_statements": top,
                    "app": now.get("app"),
                    "not_enough_data": [f"{n.area}: {n.why}" for n in no_data], "written": written})
        return 0
    _print_advice(args.stack, now["at"] - before["at"], findings, no_data, written)
    for note in said:
        print(f"\nnote: {note}")
    app_now = now.get("app") or {}
    if "puma_backlog" in app_now:
        print(f"\nthe app now (Puma's stats): {app_now['puma_backlog']:g} requests waiting for a thread, "
              f"{app_now['puma_pool_capacity']:g} of {app_now['puma_max_threads']:g} threads free")
    elif "db_pool_max" in app_now:
        print(f"\nthe app now (its metrics): {app_now['db_pool_in_use']:g} of {app_now['db_pool_max']:g} DB pool "
              "connections in use")
    if top:
        print("\nthe statements that cost the server most in the window (pg_stat_statements):")
        for s in top:
            print(f"  {s['total_ms']:>10.1f} ms  {s['calls']:>7} calls  {s['mean_ms']:>8.2f} ms each  "
                  f"{s['temp_blocks_written']:>6} temp blocks  {s['query']}")
    return 0


def _advise_remote(args, spec):
    """A stack on other machines, or in containers: each area read where verify reads it."""
    import tempfile

    import testinfra

    from .advise.hosts import areas
    from .advise.snapshot import take_from
    from .paths import state_root
    from .plan import plan_stack
    from .render import Layout
    from .servers import environ

    plan = plan_stack(args.stack, target=args.target)
    where = areas(plan, args.target)
    options = {k: v for k, v in (("ssh_config", args.ssh_config), ("ssh_identity_file", args.ssh_identity_file)) if v}
    hosts = {area: testinfra.get_host(w.spec, **({} if w.spec.startswith("docker://") else options))
             for area, w in where.items()}

    def engine(area):
        if where[area].docker_host:
            os.environ["DOCKER_HOST"] = where[area].docker_host
    with tempfile.TemporaryDirectory(prefix="tunestack-advise-") as tmp:
        env = _ssh_env(args, Path(tmp))   # the docker CLI's ssh reads --ssh-config through a wrapper on PATH
        with environ(PATH=env["PATH"] if env else os.environ.get("PATH"), DOCKER_HOST=os.environ.get("DOCKER_HOST")):
            now = take_from(hosts, plan, args.secrets_dir or Layout().secrets_dir, before_each=engine)
    folder = state_root() / args.stack
    folder.mkdir(parents=True, exist_ok=True)
    return plan, folder / "advise-samples.jsonl", now


def _write_advice(stack: str, findings) -> str:
    """Write the changes into the stack file, once a copy with them plans cleanly: a change that
    would break a budget is reported and not written."""
    import tempfile

    from . import stackfile
    from .advise.write import write_changes
    from .plan import plan_stack

    path = stackfile.stack_path(stack)
    changes = [(f.key, f.value) for f in findings]
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / path.name
        trial.write_text(path.read_text())
        write_changes(trial, changes)
        plan_stack(trial, is_path=True)    # StackError / BudgetError: exit 2, the stack file untouched
    write_changes(path, changes)
    return str(path)


def _print_advice(stack: str, seconds: float, findings, no_data, written) -> None:
    print(f"stack {stack}: {plural(len(findings), 'finding')} over the last {seconds:.0f} s")
    for f in findings:
        print(f"\n{f.area}\n  seen:    {f.measurement}\n  rule:    {f.rule}\n  change:  {f.change}\n"
              f"  effect:  {f.effect}")
    for n in no_data:
        print(f"\nnot enough data: {n.area}: {n.why}")
    if written:
        print(f"\nwritten to {written}: review it with `tunestack review --base HEAD` and open a pull request")
    elif findings:
        print("\nnothing was changed: `--write` puts these changes in the stack file")


def cmd_bench(args) -> int:
    from bench.run import run

    return run(args.only, "json" if args.format == "json" else "table")


def cmd_review(args) -> int:
    from .console import waiting
    from .review import ReviewError, find_repo, review, to_json, to_markdown

    try:
        repo = find_repo(Path.cwd())
        with waiting(f"planning and rendering every stack at {args.base} and {args.head or 'the working tree'} …"):
            meta, reviews = review(repo, args.base, args.head)
    except ReviewError as exc:
        raise UsageError(str(exc)) from None
    if args.stack:
        reviews = [r for r in reviews if r.stack == args.stack]
        if not reviews:
            raise UsageError(f"--stack {args.stack}: no such stack at {args.base} or at head")
    if args.full:
        Path(args.full).write_text(to_json(meta, reviews) if args.format == "json"
                                   else to_markdown(meta, reviews, limit=None))
    print(to_json(meta, reviews) if args.format == "json" else to_markdown(meta, reviews), end="")
    return 1 if any(r.failing for r in reviews) else 0


def cmd_rollout(args) -> int:
    from .local import LocalStackError
    from .rollout import LocalEngine, Rollout, StateStore

    from . import stackfile

    _require_stack(args.stack)
    if not all(h.is_local for h in stackfile.load(stackfile.stack_path(args.stack), name=args.stack).hosts):
        return _docker_rollout(args)
    local = _local(args)
    plan = local.plan()  # bad stack file: exit 2 before anything moves
    store = StateStore(local.dir / "rollout.json")
    try:
        request = _rollout_request(args, plan, store, "V (the version to roll out)")
    except RolloutWatchTimeout as exc:
        print(f"timeout: {exc}", file=sys.stderr)
        return 1
    if request is None:
        return 0
    steps, bake, env = request
    if not local.supervisor_running():
        raise EnvironmentProblem(f"stack {args.stack} is not running; start it with: tunestack up --stack {args.stack}")
    gates = (plan.rollout["gate_max_error_rate"].value, plan.rollout["gate_max_p95_ms"].value,
             plan.rollout["gate_min_requests"].value)
    say = lambda m: print(m, flush=True)  # noqa: E731
    load = None
    if args.load is not None:
        load = _synthetic_load(plan, args.load, bake, say)
    try:
        with _locked(local, f"rollout {args.action} --stack {args.stack}", args):
            controller = Rollout(LocalEngine(local, say=say), store, gates, say=say, load=load,
                                 notify=_notifier(args, say))
            if args.action == "promote":
                return controller.promote(args.version)
            if args.action == "abort":
                return controller.abort()
            return controller.run(args.version, env, steps, bake, pause_at=args.pause_at)
    except LocalStackError as exc:
        print(f"rollout failed: {local.redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: state is saved; run the same command again to resume at this step", file=sys.stderr)
        return 130


def _rollout_request(args, plan, store, version_is: str):
    """What both rollout engines read first: `status` prints and ends (None); otherwise the steps,
    the bake in seconds and the new version's environment, checked before anything moves."""
    from .rollout import parse_bake, parse_steps

    if args.action == "status":
        _rollout_status(args, store)
        return None
    steps = parse_steps(args.steps) if args.steps else list(plan.rollout["steps"].value)
    bake = parse_bake(args.bake) if args.bake else plan.rollout["bake"].value / 1000
    env = _rollout_env(args)
    if args.action == "start" and not args.version:
        raise UsageError(f"rollout needs --version {version_is}")
    return steps, bake, env


def _rollout_status(args, store) -> None:
    """`rollout status`: the state once, or with --watch each change until the rollout ends
    (--timeout: give up, exit 1). As text or JSON (--watch --json: one JSON document per line)."""
    from dataclasses import asdict

    from .rollout import describe, parse_bake

    def show(state) -> None:
        if args.format == "json":
            print(json.dumps({"rollout": asdict(state) if state else None, "active": bool(state and state.active)},
                             default=str), flush=True)
        else:
            print(describe(state), flush=True)

    state = store.load()
    show(state)
    if not args.watch:
        return
    import time

    limit = parse_bake(args.timeout) if args.timeout else None
    started, seen = time.monotonic(), store.path.read_text() if store.path.exists() else None
    while state and state.active:
        if limit is not None and time.monotonic() - started > limit:
            raise RolloutWatchTimeout(f"rollout still {state.phase} at {state.weight}% after --timeout {args.timeout}")
        time.sleep(1)
        now = store.path.read_text() if store.path.exists() else None
        if now != seen:
            seen, state = now, store.load()
            show(state)


class RolloutWatchTimeout(Exception):
    """`rollout status --watch --timeout`: the rollout did not end in time. Exit code 1."""


def _rollout_env(args) -> dict[str, str]:
    env = {}
    for item in args.env or []:
        key, _, value = item.partition("=")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key) or "=" not in item:
            raise UsageError(f"--env {item!r}: write KEY=VALUE, KEY of letters, digits and _")
        try:
            supervisor_env_value(value)   # what the process manager (or a container's env) cannot carry
        except UnsafeValue as exc:
            raise UsageError(f"--env {key}: {exc}") from None
        env[key] = value
    return env


def _docker_rollout(args) -> int:
    """A rollout of a Docker stack on remote hosts: DockerEngine through Pulumi's Automation API
    (the program starts the canary replicas and promotes), HAProxy weights over SSH in between."""
    import shutil

    from . import images
    from .images import docker_url
    from .lock import stack_lock
    from .paths import ROOT, state_root
    from .plan import plan_stack
    from .plan.placement import container_name
    from .rollout import DockerEngine, LoadBalancerControl, Rollout, StateStore

    plan = plan_stack(args.stack, target="docker")   # bad stack file: exit 2 before anything moves
    store = StateStore(state_root() / args.stack / "rollout.json")
    try:
        request = _rollout_request(args, plan, store, "IMAGE (the app image to roll out, e.g. ghcr.io/acme/shop:1.5.0)")
    except RolloutWatchTimeout as exc:
        print(f"timeout: {exc}", file=sys.stderr)
        return 1
    if request is None:
        return 0
    steps, bake, env = request
    if args.action == "start":   # the image must exist for every app machine before anything moves
        rows = images.check(plan, only={m: {args.version} for m in images.app_machines(plan)})
        bad = [r for r in rows if r["state"] not in ("present", "pullable")]
        if bad:
            raise UsageError(f"--version {args.version}: " + "; ".join(
                f"{r['machine']} {r['state']} {r['detail']}".strip() for r in bad)
                + ". Push the image, or name one that exists (tunestack images check)")
    if not shutil.which("pulumi"):
        print("error: a rollout of a Docker stack runs `pulumi up` to start and to promote the canary: install the "
              "Pulumi CLI (https://www.pulumi.com/docs/install/) and select the stack's backend", file=sys.stderr)
        return EXIT_ENVIRONMENT
    from pulumi import automation as auto

    say = lambda m: print(m, flush=True)  # noqa: E731
    cache = plan.placement["haproxy"].host
    lb = LoadBalancerControl(container_name(args.stack, "lb"), docker_url(cache, 0))
    gates = (plan.rollout["gate_max_error_rate"].value, plan.rollout["gate_max_p95_ms"].value,
             plan.rollout["gate_min_requests"].value)
    load = _synthetic_load(plan, args.load, bake, say) if args.load is not None else None
    (state_root() / args.stack).mkdir(parents=True, exist_ok=True)
    with stack_lock(state_root() / args.stack / "lock", f"rollout {args.action} --stack {args.stack}",
                    wait_s=args.lock_wait, say=say):
        stack = auto.select_stack(stack_name=args.stack, work_dir=str(ROOT))
        controller = Rollout(DockerEngine(plan, stack, lb, say=say), store, gates, say=say, load=load,
                             notify=_notifier(args, say))
        try:
            if args.action == "promote":
                return controller.promote(args.version)
            if args.action == "abort":
                return controller.abort()
            return controller.run(args.version, env, steps, bake, pause_at=args.pause_at)
        except KeyboardInterrupt:
            print("\ninterrupted: state is saved; run the same command again to resume at this step", file=sys.stderr)
            return 130


def _notifier(args, say):
    """The webhook told of promotions, pauses and rollbacks: --notify, else TUNESTACK_NOTIFY_URL."""
    from .rollout import webhook

    url = args.notify or os.environ.get("TUNESTACK_NOTIFY_URL")
    if not url:
        return None
    if not re.match(r"^https?://[^\s]+$", url):
        raise UsageError(f"--notify {url!r}: an http:// or https:// URL")
    return webhook(url, say)


MAX_LOAD_RATE = 500   # requests/s: enough for any gate, not a load test


def _synthetic_load(plan, rate: float, bake_s: float, say):
    """Bounded, marked traffic at the stack's entry point while a step bakes (`--load RATE`):
    like Flagger's load tester, for stacks nobody is using. Marked with X-Tunestack-Synthetic so
    that HAProxy's log, and the gates, count it apart."""
    from .loadgen import Load
    from .rollout import SYNTHETIC_HEADER

    if not 0 < rate <= MAX_LOAD_RATE:
        raise UsageError(f"--load {rate:g}: requests per second between 0 and {MAX_LOAD_RATE}")
    bind = plan.loadbalancer["bind"].value
    host = plan.placement["haproxy"].publish or ("127.0.0.1" if bind in ("0.0.0.0", "*", "::") else bind)
    url = f"http://{host}:{plan.loadbalancer['port'].value}/"
    say(f"synthetic load: {rate:g} requests/s to {url} while each step bakes (marked {SYNTHETIC_HEADER}: 1)")
    threads = min(16, max(2, int(rate // 20) + 1))
    return lambda: Load(url, threads=threads, limit_s=bake_s + 30, rate=rate, headers={SYNTHETIC_HEADER: "1"})


def cmd_schema(args) -> int:
    from .stackfile.schema import STACK_SCHEMA

    print(json.dumps(STACK_SCHEMA, indent=2))
    return 0


EXIT_CODES = ("exit codes: 0 ok · 1 a check failed (verify, a rollout gate, a review that blocks) · 2 bad input "
              "(nothing was touched) · 3 the environment (a missing package or tool, an unreachable host or "
              "engine, a held lock)")
FORMATS = ("text", "json")
# What --format said before there was one set of choices: kept so that scripts keep working.
FORMAT_ALIASES = {"table": "text", "markdown": "text", "conf": "text"}


class Parser(argparse.ArgumentParser):
    """argparse, exact (no abbreviated flags) and with a "did you mean" for commands and flags."""

    def __init__(self, *a, **kw):
        kw.setdefault("allow_abbrev", False)
        kw.setdefault("epilog", EXIT_CODES)
        super().__init__(*a, **kw)

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}{_did_you_mean(self, message)}\n"
                                  f"(`{self.prog} --help` lists what it takes)\n")


def _did_you_mean(parser: argparse.ArgumentParser, message: str) -> str:
    import difflib

    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        options = re.findall(r"'([^']*)'", choice.group(2))
        close = difflib.get_close_matches(choice.group(1), options, n=1)
        return f"; did you mean {close[0]!r}?" if close else ""
    unknown = re.search(r"unrecognized arguments: (.*)", message)
    if unknown:
        flags = [o for a in _all_actions(parser) for o in a.option_strings]
        hints = [f"{u} → {c[0]}" for u in unknown.group(1).split() if u.startswith("-")
                 for c in [difflib.get_close_matches(u.split("=")[0], flags, n=1)] if c]
        return f"; did you mean: {', '.join(hints)}?" if hints else ""
    return ""


def _all_actions(parser: argparse.ArgumentParser):
    """The parser's actions and those of the subcommand named on the command line."""
    actions = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if name in getattr(parser, "argv", sys.argv[1:]):
                    actions += sub._actions
    return actions


def _format(value: str) -> str:
    value = FORMAT_ALIASES.get(value, value)
    if value not in FORMATS:
        raise argparse.ArgumentTypeError(f"{value!r}: text or json")
    return value


def _stack_options(p, path_ok: bool = False) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("-s", "--stack", metavar="NAME", help="stack name: stacks/Pulumi.NAME.yaml (default: local)")
    where.add_argument("--stack-file", metavar="PATH",
                       help="a stack file anywhere; named Pulumi.NAME.yaml it is stack NAME"
                            + (" (any name works here)" if path_ok else ""))


def _report_options(p, what: str = "the report") -> None:
    p.add_argument("--format", type=_format, default="text", metavar="{text,json}",
                   help=f"{what} for people (text, default) or machines (json)")
    p.add_argument("-j", "--json", dest="format", action="store_const", const="json", help="same as --format json")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr (nor when CI is set)")


def _lock_option(p) -> None:
    p.add_argument("--lock-wait", type=float, default=120, metavar="SECONDS",
                   help="how long to wait while another up/down/rollout holds the stack (default 120; then exit 3)")


def _percent(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole percentage from 0 to 100, e.g. 25") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value}: a percentage from 0 to 100, e.g. 25")
    return value


def _add_plan_commands(sub) -> None:
    """Commands that only read stack files: plan, render, postgres, preview."""
    p = sub.add_parser("plan", help="validate a stack file and print every setting with its reason",
                       description="Validate a stack file, compute every setting with its reason and check "
                                   "the budgets. Exits 2 on a bad stack file or a broken budget.")
    _stack_options(p, path_ok=True)
    _report_options(p, "the plan")
    p.add_argument("--pg-version", type=int, choices=PG_VERSIONS,
                   help="plan for another PostgreSQL major than the stack file names")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("render", help="write the config files a stack's hosts receive",
                       description="Render postgresql.conf, roles.sql, pgbouncer.ini, its systemd limits, one "
                                   "Redis conf per instance, web/jobs env files, puma.rb or gunicorn.conf.py "
                                   "and Prometheus alerts. --all refreshes the committed rendered/ folder; "
                                   "--check fails when rendered/ is stale.")
    _stack_options(p, path_ok=True)
    p.add_argument("-o", "--out", metavar="DIR", help="output folder (with --all: default rendered/)")
    p.add_argument("--all", action="store_true", help="render every stack into rendered/<stack>/")
    p.add_argument("--check", action="store_true", help="exit 1 when rendered/ differs from a fresh render")
    _report_options(p, "the files written")
    p.set_defaults(func=cmd_render)

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
    _report_options(p, "the recommendations")
    p.set_defaults(func=cmd_postgres)

    p = sub.add_parser("preview", help="the resources `pulumi up` would create, offline (Pulumi mocks)",
                       description="Run the real Pulumi program under Pulumi's mock runtime and print the "
                                   "resource tree with key inputs, ending with a summary as `pulumi preview` "
                                   "does. Needs no Pulumi CLI, backend, credentials or Docker. Secrets show "
                                   "as [secret].")
    _stack_options(p)
    p.add_argument("--canary-weight", type=_percent, metavar="0-100",
                   help="preview another rollout state than the stack's canaryWeight")
    _report_options(p, "the resources")
    p.set_defaults(func=cmd_preview)


def _add_local_commands(sub) -> None:
    """Commands that run or check a stack: up, down, status, verify."""
    p = sub.add_parser("up", help="bring a local stack up on this machine (idempotent)",
                       description="Plan the stack, build its reference app, check the new configs with the real "
                                   "servers, install missing Debian packages (as root), then start or update "
                                   "PostgreSQL, PgBouncer, both Redis instances, the reference app and HAProxy "
                                   "under supervisord. A second `up` reloads where the server can and restarts "
                                   "where it must; data is kept. State: /var/lib/tunestack/<stack>/ as root, "
                                   "else $XDG_STATE_HOME/tunestack/<stack>/.")
    _stack_options(p)
    _lock_option(p)
    _report_options(p, "the stack's state at the end")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop everything of a local stack; data is kept")
    _stack_options(p)
    _lock_option(p)
    _report_options(p, "what was stopped")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="what runs, where, and with which plan")
    _stack_options(p)
    _report_options(p, "the status")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("verify", help="check a stack's hosts against the plan (pytest-testinfra)",
                       description="Run the testinfra suite in verify/ against a stack's hosts: PostgreSQL SHOW, "
                                   "PgBouncer SHOW CONFIG and its open-file limit, Redis CONFIG GET per role, the "
                                   "app's processes and what it runs with, listening sockets. Prints expected vs "
                                   "actual per host; exits 1 on any mismatch.")
    _stack_options(p)
    p.add_argument("--hosts", help="testinfra host specs, e.g. local://, ssh://deploy@10.0.0.5, docker://name "
                                   "(default: local:// for a local stack, else ssh:// to the stack's addresses)")
    p.add_argument("--secrets-dir", help="where pgpass and redis-<role>-password are on the hosts (default: the local "
                                         "stack's state folder, else /etc/tunestack/secrets)")
    p.add_argument("--pg-version", type=int, choices=PG_VERSIONS,
                   help="the PostgreSQL major the hosts run (default: the installed one for a local stack, "
                        "else the stack file's)")
    p.add_argument("--target", choices=TARGETS, default="hosts",
                   help="hosts: services installed as packages (default); docker: services in containers")
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
    _report_options(p, "expected vs actual")
    p.set_defaults(func=cmd_verify)


def _add_change_commands(sub) -> None:
    """Advice, benchmarks, review and rollouts; the schema for editors."""
    p = sub.add_parser("advise", help="read a running stack's counters and propose stack-file changes",
                       description="Sample the running stack's own counters (PostgreSQL's pg_stat_database, "
                                   "checkpoints and WAL; PgBouncer's SHOW POOLS and SHOW STATS; Redis INFO; the job "
                                   "queue's depth), compare with the oldest sample within --since, and name, per "
                                   "finding, the measurement, the rule and its source, the stack-file change and its "
                                   "effect. Nothing changes by itself: --write puts the changes in the stack file "
                                   "(comments and order kept) for review. Each run stores its sample; the first "
                                   "says \"not enough data\".")
    _stack_options(p)
    p.add_argument("--since", default="1h", help="compare with the oldest sample this recent, e.g. 15m (default 1h)")
    p.add_argument("--write", action="store_true", help="write the proposed changes into the stack file")
    p.add_argument("--target", choices=TARGETS, default="hosts",
                   help="hosts: services installed as packages (default); docker: services in containers")
    p.add_argument("--secrets-dir", help="where the password files are on the hosts (default: the local stack's "
                                         "state folder, else /etc/tunestack/secrets)")
    p.add_argument("--ssh-config", help="an ssh config for remote hosts and Docker engines (as verify takes it)")
    p.add_argument("--ssh-identity-file", help="an ssh key for remote hosts (as verify takes it)")
    _report_options(p, "the findings")
    p.set_defaults(func=cmd_advise)

    p = sub.add_parser("bench", help="benchmarks, side by side in one run (not tests)",
                       description="storm: 1,000 pgbench clients through the tuned PgBouncer vs a stock PostgreSQL "
                                   "(TPS, failed connections); web: wrk on the reference app with the planned "
                                   "workers/threads/pools vs a stock single-worker app connecting directly "
                                   "(requests/s, p50/p95/p99); plan: plan + render time of every stack. Storm and "
                                   "web bring up their own throwaway copies of the local stack (about a minute each).")
    p.add_argument("--only", choices=("storm", "web", "plan", "restart", "rails", "rollout", "advise"),
                   help="one benchmark; rollout builds the multihost test bed (root, several minutes)")
    _report_options(p, "the results")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("review", help="what each environment's hosts receive at base vs head, and why",
                       description="Plan every stack at --base (its own stack files and tuning code, exported "
                                   "with git archive; the working tree is not touched) and at --head (default: the "
                                   "working tree). The text is a pull request comment: a summary first (stacks and "
                                   "settings changed, budgets near their limit), details in collapsible sections, "
                                   "under GitHub's limit; --full FILE writes everything, rendered diffs included. "
                                   "Known secret values are masked. Exits 1 when a stack fails validation or breaks "
                                   "a budget at head, so it can gate a merge.")
    p.add_argument("--base", required=True, help="git revision to compare against, e.g. origin/main")
    p.add_argument("--head", help="git revision (default: the working tree)")
    _stack_options(p)
    p.add_argument("--full", metavar="FILE", help="also write the whole review, without any limit, to FILE")
    _report_options(p, "the review")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("rollout", help="staged rollout 10%% → 25%% → 50%% → 100%% with health gates",
                       description="Move the app to --version through the stack's steps. Each step sets the "
                                   "canary's traffic weight (HAProxy weights on the local stack), bakes, then checks "
                                   "the gates: the canary's error rate and p95 latency from HAProxy's request log, a "
                                   "minimum request count (no data fails) and testinfra on the canary's host. A failed "
                                   "gate rolls back to stable and exits 1. State is saved after every transition: run "
                                   "the same command again to resume. Actions: start (default), status, promote "
                                   "(skip remaining steps, or go on from a --pause-at), abort.")
    p.add_argument("action", nargs="?", default="start", choices=("start", "status", "promote", "abort"))
    _stack_options(p)
    p.add_argument("--version", help="the version to roll out (start) or to promote")
    p.add_argument("--env", action="append", metavar="KEY=VALUE", help="environment for the new version only")
    p.add_argument("--steps", help="weights in %%, rising, ending at 100 (default: the stack's rollout.steps)")
    p.add_argument("--bake", help="time per step, e.g. 30s or 5m (default: the stack's rollout.bake)")
    p.add_argument("--load", type=float, metavar="RATE",
                   help="send RATE requests/s of marked synthetic traffic to the entry point while each step "
                        "bakes, so an idle stack's gates measure something (counted apart in the gates)")
    p.add_argument("--pause-at", type=_percent, metavar="PERCENT",
                   help="a manual gate: stop once this step's gates pass, until `rollout promote`")
    p.add_argument("--notify", metavar="URL", help="POST a JSON event to this webhook on promotion, pause and "
                                                   "rollback (also TUNESTACK_NOTIFY_URL)")
    p.add_argument("--watch", action="store_true", help="status: print each change until the rollout ends")
    p.add_argument("--timeout", help="status --watch: give up after this long, e.g. 10m (exit 1)")
    _lock_option(p)
    _report_options(p, "the status")
    p.set_defaults(func=cmd_rollout)

    p = sub.add_parser("images", help="build the project's images, or check a stack's images on its hosts",
                       description="build: make tunestack/base (debootstrap) and every tunestack/* image from "
                                   "images/ on one Docker engine (--docker-host, else DOCKER_HOST, else the "
                                   "local socket); needs root and Debian's mirror. check: ask each machine of a "
                                   "stack whether it has each image it runs, or can pull it; exit 2 when one "
                                   "cannot be had, before `pulumi up` touches anything.")
    p.add_argument("action", choices=("build", "check"))
    _stack_options(p, path_ok=True)
    p.add_argument("--docker-host", help="build: the engine, e.g. unix:///var/run/docker.sock or ssh://deploy@10.0.0.5")
    _report_options(p, "the images")
    p.set_defaults(func=cmd_images)

    p = sub.add_parser("schema", help="print the JSON Schema of stack files (for editors)")
    p.set_defaults(func=cmd_schema)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="tunestack",
        description="Plan, render and verify a tuned PostgreSQL + PgBouncer + Redis + app stack "
                    "from one stack file (stacks/Pulumi.<stack>.yaml).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command", parser_class=Parser)

    _add_plan_commands(sub)
    _add_local_commands(sub)
    _add_change_commands(sub)
    return parser


# Commands whose --stack-file may be any file name: they plan it directly.
ANY_STACK_FILE = ("plan", "render", "images")


def resolve_stack(args) -> None:
    """One meaning of --stack and --stack-file for every command: a file named Pulumi.NAME.yaml is
    stack NAME in its folder; plan, render and images check also take any other file name."""
    if not hasattr(args, "stack"):
        return
    if args.stack_file:
        path = Path(args.stack_file)
        if not path.is_file():
            raise UsageError(f"--stack-file {path}: no such file")
        named = re.fullmatch(r"Pulumi\.([A-Za-z0-9][A-Za-z0-9_.-]*)\.yaml", path.name)
        if args.command in ANY_STACK_FILE:
            return   # planned from the file itself
        if named:
            os.environ["TUNESTACK_STACKS_DIR"] = str(path.resolve().parent)
            args.stack, args.stack_file = named.group(1), None
        else:
            raise UsageError(f"--stack-file {path}: `{args.command}` needs a file named Pulumi.<stack>.yaml "
                             f"(the name is the stack's); rename it, e.g. Pulumi.mystack.yaml")
    elif args.stack is None and args.command != "review":
        args.stack = "local"


def main(argv: list[str] | None = None) -> int:
    from .console import set_quiet
    from .servers import environ

    parser = build_parser()
    parser.argv = argv or sys.argv[1:]
    args = parser.parse_args(argv)
    set_quiet(getattr(args, "quiet", False))
    # --stack-file may point the stacks folder elsewhere: for this command only.
    with environ(TUNESTACK_STACKS_DIR=os.environ.get("TUNESTACK_STACKS_DIR")):
        return _run(args)


def _run(args) -> int:
    try:
        resolve_stack(args)
        return args.func(args)
    except StackError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except BudgetError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (LockHeld, EnvironmentProblem) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT
