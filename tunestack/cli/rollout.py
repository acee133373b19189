"""`tunestack rollout`: staged rollout 10% → 25% → 50% → 100% with health gates, on either engine:
the local stack, or a Pulumi Docker stack on remote hosts."""
from __future__ import annotations

import json
import os
import re
import sys
import time

from ..console import fit
from ..errors import UsageError
from ..render import UnsafeValue, supervisor_env_value
from ..units import parse_seconds
from .parser import EXIT_ENVIRONMENT, flag_value, lock_option, percent, report_options, stack_options, state_dir_option
from .stacks import interrupted, locked, stack_hint, stack_spec


def register(sub) -> None:
    p = sub.add_parser("rollout", help="staged rollout 10%% → 25%% → 50%% → 100%% with health gates",
                       description="Move the app to --version through the stack's steps. Each step sets the "
                                   "canary's traffic weight (HAProxy weights on the local stack), bakes, then checks "
                                   "the gates: the canary's error rate and p95 latency from HAProxy's request log, a "
                                   "minimum request count (no data fails) and testinfra on the canary's host. A failed "
                                   "gate rolls back to stable and exits 1. State is saved after every transition: run "
                                   "the same command again to resume. Actions: start (default), status, promote "
                                   "(skip remaining steps, or go on from a --pause-at), abort.")
    p.add_argument("action", nargs="?", default="start", choices=("start", "status", "promote", "abort"))
    stack_options(p)
    p.add_argument("--version", help="the version to roll out (start) or to promote")
    p.add_argument("--env", action="append", metavar="KEY=VALUE", help="environment for the new version only")
    p.add_argument("--steps", help="weights in %%, rising, ending at 100 (default: the stack's rollout.steps)")
    p.add_argument("--bake", help="time per step, e.g. 30s or 5m (default: the stack's rollout.bake)")
    p.add_argument("--load", nargs="?", const="auto", metavar="RATE",
                   help="send RATE requests/s of marked synthetic traffic to the entry point while each step "
                        "bakes, so an idle stack's gates measure something (counted apart in the gates); "
                        "without RATE, enough for min_requests at the first step with 50%% to spare. "
                        "A rollout remembers it for promote and resume")
    p.add_argument("--pause-at", type=percent, metavar="PERCENT",
                   help="a manual gate: stop once this step's gates pass, until `rollout promote`")
    p.add_argument("--notify", metavar="URL", help="POST a JSON event to this webhook on promotion, pause and "
                                                   "rollback (also TUNESTACK_NOTIFY_URL)")
    p.add_argument("--watch", action="store_true", help="status: print each change until the rollout ends")
    p.add_argument("--timeout", help="status --watch: give up after this long, e.g. 10m (exit 1)")
    p.add_argument("--show-env", action="store_true",
                   help="status: show the --env values (root only); they are masked otherwise")
    lock_option(p)
    report_options(p, "the status")
    state_dir_option(p)
    p.set_defaults(func=run)


class LocalSide:
    """The local stack: a canary process beside stable, under supervisord."""
    version_is = "V (the version to roll out)"

    def __init__(self, args):
        from ..local import LocalStack, LocalStackError
        from ..rollout import StateStore
        from .stacks import local_stack

        self.local: LocalStack = local_stack(args)
        self.plan = self.local.plan()   # bad stack file: exit 2 before anything moves
        self.store = StateStore.in_folder(self.local.dir)
        self.lock_dir, self.failures, self.redact = self.local.dir, (LocalStackError,), self.local.redact

    def ready(self, args) -> int | None:
        self.local.require_running()
        return None

    def engine(self, say):
        from ..rollout import LocalEngine

        return LocalEngine.for_stack(self.local, self.plan, say=say)


class DockerSide:
    """A Docker stack on remote hosts: the Pulumi program through the Automation API starts and
    promotes the canary, HAProxy weights over SSH in between."""
    version_is = "IMAGE (the app image to roll out, e.g. ghcr.io/acme/shop:1.5.0)"

    def __init__(self, args):
        from ..paths import state_root
        from ..plan import plan_stack
        from ..rollout import StateStore

        self.stack = args.stack
        self.plan = plan_stack(args.stack, target="docker")   # bad stack file: exit 2 before anything moves
        self.lock_dir = state_root() / args.stack
        self.store = StateStore.in_folder(self.lock_dir)
        self.failures, self.redact = (), str

    def ready(self, args) -> int | None:
        """The image exists for every app machine, and the Pulumi CLI is there, before anything moves."""
        import shutil

        from .. import images

        if args.action == "start":
            rows = images.check(self.plan, only={m: {args.version} for m in images.app_machines(self.plan)})
            bad = [r for r in rows if r["state"] not in ("present", "pullable")]
            if bad:
                raise UsageError(f"--version {args.version}: " + "; ".join(
                    f"{r['machine']} {r['state']} {r['detail']}".strip() for r in bad)
                    + ". Push the image, or name one that exists (tunestack images check)")
        if not shutil.which("pulumi"):
            print("error: a rollout of a Docker stack runs `pulumi up` to start and to promote the canary: install the "
                  "Pulumi CLI (https://www.pulumi.com/docs/install/) and select the stack's backend", file=sys.stderr)
            return EXIT_ENVIRONMENT
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        return None

    def engine(self, say):
        from pulumi import automation as auto

        from ..paths import ROOT
        from ..plan.placement import container_name
        from ..rollout import DockerEngine, LoadBalancerControl
        from ..targets import docker_url

        lb = LoadBalancerControl(container_name(self.stack, "lb"), docker_url(self.plan.placement["haproxy"].host, 0))
        stack = auto.select_stack(stack_name=self.stack, work_dir=str(ROOT))
        return DockerEngine.for_stack(self.plan, stack, lb, say=say)


def run(args) -> int:
    from ..targets import is_local_stack

    side = LocalSide(args) if is_local_stack(stack_spec(args.stack)) else DockerSide(args)
    if args.action == "status":
        return status(args, side.store)
    steps, bake, env = _request(args, side.plan, side.version_is)
    say = lambda m: print("\n".join(fit(line) for line in m.split("\n")), flush=True)  # noqa: E731  (80 columns)
    steps, bake = remembered(args, side.store.load(), steps, bake)
    # Bad input first: exit 2 before the environment is asked anything.
    notify = _notifier(args, say)
    rate = _load_rate(side.plan, args.load, steps, bake, say) if args.load is not None else None
    load = _load(side.plan, rate, bake, say) if rate is not None else None
    remember = {"load": rate, "notify": notify.url if notify else None}
    code = side.ready(args)
    if code is not None:
        return code
    return _move(args, side, (steps, bake, env), say, notify, load, remember)


def _move(args, side, request, say, notify, load, remember=None) -> int:
    try:
        return _locked_move(args, side, request, say, notify, load, remember)
    finally:
        if notify:
            notify.flush()   # after the lock is released: no receiver can hold the stack


def _locked_move(args, side, request, say, notify, load, remember=None) -> int:
    from ..rollout import Rollout
    from ..rollout.gates import plan_gates

    steps, bake, env = request
    try:
        with locked(side.lock_dir, f"rollout {args.action} --stack {args.stack}", args):
            controller = Rollout(side.engine(say), side.store, plan_gates(side.plan), say=say, load=load,
                                 notify=notify, stack_hint=stack_hint(args), remember=remember)
            if args.action == "promote":
                return controller.promote(args.version)
            if args.action == "abort":
                return controller.abort()
            return controller.run(args.version, env, steps, bake, pause_at=args.pause_at)
    except side.failures as exc:
        print(f"rollout failed: {side.redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return interrupted()


def remembered(args, started, steps: list[int], bake: float) -> tuple[list[int], float]:
    """A promote or a resume goes on as the rollout was started: its load and its webhook unless
    given again (args is updated), and for a promote its steps and bake."""
    if not (started and started.active and (args.action == "promote" or started.version == args.version)):
        return steps, bake
    args.load = args.load if args.load is not None else started.load
    args.notify = args.notify or started.notify
    return (started.steps, started.bake_s) if args.action == "promote" else (steps, bake)


def _request(args, plan, version_is: str) -> tuple[list[int], float, dict[str, str]]:
    """The steps, the bake in seconds and the new version's environment, checked before anything moves."""
    from ..rollout import parse_steps

    steps = flag_value("--steps", args.steps, parse_steps) if args.steps else list(plan.rollout["steps"].value)
    bake = flag_value("--bake", args.bake, parse_seconds) if args.bake else plan.rollout["bake"].value / 1000
    env = _env(args.env or [], plan)
    if args.action == "start" and not args.version:
        raise UsageError(f"rollout needs --version {version_is}")
    return steps, bake, env


def _env(items: list[str], plan) -> dict[str, str]:
    from ..plan.rollout import canary_env_conflicts
    from ..stackfile.sections.rollout import RESERVED_NAMES, RESERVED_PREFIXES

    env = {}
    for item in items:
        key, _, value = item.partition("=")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key) or "=" not in item:
            raise UsageError(f"--env {item!r}: write KEY=VALUE, KEY of letters, digits and _")
        try:
            supervisor_env_value(value)   # what the process manager (or a container's env) cannot carry
        except UnsafeValue as exc:
            raise UsageError(f"--env {key}: {exc}") from None
        if key.upper().startswith(RESERVED_PREFIXES) or key.upper() in RESERVED_NAMES:
            raise UsageError(f"--env {key}: not a variable a canary may change (what runs, where it connects, "
                             "its secrets: LD_*, PATH, DATABASE_*, REDIS_*, PG*, …); give the app's own variables only")
        env[key] = value
    clashes = canary_env_conflicts(env, plan.web_env, plan.jobs_env)
    if clashes:
        raise UsageError(f"--env {', '.join(clashes)}: the plan sets {'it' if len(clashes) == 1 else 'them'} for both "
                         "tracks (plan --section 'web env'); give the app's own variables only")
    return env


def _load_rate(plan, given, steps: list[int], bake_s: float, say) -> float:
    """--load RATE, or (--load alone) what the gates need: min_requests at the first step's share
    in one bake, with half again to spare, within the load's bound."""
    import math

    from ..rollout.gates import load_needed
    from ..rollout.load import MAX_LOAD_RATE

    if given != "auto":
        return flag_value("--load", str(given), float)
    minimum = plan.rollout["gate_min_requests"].value
    rate = min(MAX_LOAD_RATE, math.ceil(load_needed(minimum, bake_s, steps[0]) * 1.5))
    say(f"--load: {rate} requests/s, for min_requests {minimum} at {steps[0]}% in a {bake_s:g}s bake, "
        "with half again to spare")
    return float(rate)


def _load(plan, rate: float, bake_s: float, say):
    from ..rollout.load import synthetic_load

    return flag_value("--load", f"{rate:g}", lambda r: synthetic_load(plan, float(r), bake_s, say))


def _notifier(args, say):
    """The webhook told of promotions, pauses and rollbacks: --notify, else TUNESTACK_NOTIFY_URL."""
    from ..rollout.notify import check_url, webhook

    url = args.notify or os.environ.get("TUNESTACK_NOTIFY_URL")
    return webhook(flag_value("--notify", url, check_url), say) if url else None


def status(args, store) -> int:
    """`rollout status`: the state once, or with --watch each change until the rollout ends
    (--timeout: give up, exit 1). As text or JSON (--watch --json: one JSON document per line)."""
    from ..rollout import describe
    from ..rollout.state import PHASE_WORDS, history_line, public

    if args.show_env and os.geteuid() != 0:
        raise UsageError("--show-env: root only (the values are secrets of the app's environment)")

    def show(state) -> None:
        if args.format == "json":
            print(json.dumps({"rollout": public(state, args.show_env), "active": bool(state and state.active)},
                             default=str), flush=True)
        else:
            print(describe(state), flush=True)

    state = store.load()
    show(state)
    if not args.watch:
        return 0
    limit = flag_value("--timeout", args.timeout, parse_seconds) if args.timeout else None
    started, seen = time.monotonic(), store.path.read_text() if store.path.exists() else None
    shown = len(state.history) if state else 0
    while state and state.active:
        if limit is not None and time.monotonic() - started > limit:
            print(f"timeout: rollout still {PHASE_WORDS.get(state.phase, state.phase)} at {state.weight}% after "
                  f"--timeout {args.timeout}", file=sys.stderr)
            return 1
        time.sleep(1)
        now = store.path.read_text() if store.path.exists() else None
        if now != seen:
            seen, state = now, store.load()
            if args.format == "json":
                show(state)
            else:   # only what changed: the new history lines
                for h in (state.history[shown:] if state else []):
                    print(history_line(h), flush=True)
            shown = len(state.history) if state else 0
    # Argo Rollouts' `status --watch` contract: success only when the rollout ends promoted.
    return 0 if state is None or state.phase == "promoted" else 1
