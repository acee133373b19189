"""Staged rollouts with health gates and automatic rollback.

Semantics follow Argo Rollouts and Flagger: each step is setWeight, then pause (bake), then
analysis. A failed analysis aborts and rolls traffic back to stable. `promote` skips the remaining
steps; `abort` stops by hand. State is written after every transition, so a rollout interrupted
by Ctrl-C, a killed process or a restart resumes at the same step; a different version starts
again at step 0.

Engines sit behind `Engine`: the local stack (real processes, HAProxy's runtime API, HAProxy's
request log for measurements) and Pulumi (Automation API: set config, `up`, read outputs).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from .errors import UsageError
from .plan.rollout import beside
from .servers import environ, port_open
from .units import UnitError, parse_duration_ms

PHASES = ("setWeight", "pause", "analysis", "paused")   # paused: a manual gate (--pause-at), until promote


# --- state -----------------------------------------------------------------------------------------
@dataclass
class RolloutState:
    version: str
    env: dict[str, str]
    steps: list[int]
    bake_s: float
    step: int = 0                 # index into steps
    phase: str = "setWeight"      # setWeight | pause | analysis | promoted | aborted
    stable_version: str = "stable"
    stable_env: dict[str, str] = field(default_factory=dict)
    bake_started: float | None = None
    history: list[dict] = field(default_factory=list)
    pause_at: int | None = None   # the weight at which to wait for `rollout promote`

    @property
    def active(self) -> bool:
        return self.phase in PHASES

    @property
    def weight(self) -> int:
        return self.steps[self.step]


class StateStore:
    """One JSON file; written atomically (temp file + rename) after every transition."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> RolloutState | None:
        if not self.path.exists():
            return None
        return RolloutState(**json.loads(self.path.read_text()))

    def save(self, state: RolloutState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2))
        os.replace(tmp, self.path)


# --- gates -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metrics:
    requests: int
    errors: int
    p95_ms: float | None
    synthetic: int = 0     # of `requests`, those the rollout's own load sent (marked, counted apart)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class GateResult:
    name: str
    ok: bool
    measured: str
    threshold: str


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest-rank


def evaluate(metrics: Metrics, max_error_rate: float, max_p95_ms: float, min_requests: int) -> list[GateResult]:
    """No data fails: a canary nobody called has proven nothing (Flagger #1035)."""
    enough = metrics.requests >= min_requests
    measured = str(metrics.requests) + (f" ({metrics.synthetic} synthetic)" if metrics.synthetic else "")
    out = [GateResult("min requests", enough, measured, f">= {min_requests}")]
    rate = metrics.error_rate
    out.append(GateResult("error rate", rate is not None and rate < max_error_rate,
                          "no data" if rate is None else f"{rate:.2%}", f"< {max_error_rate:.2%}"))
    out.append(GateResult("p95 latency", metrics.p95_ms is not None and metrics.p95_ms < max_p95_ms,
                          "no data" if metrics.p95_ms is None else f"{metrics.p95_ms:.0f} ms", f"< {max_p95_ms:g} ms"))
    return out


# --- engines ---------------------------------------------------------------------------------------
class Engine(Protocol):
    def start_canary(self, version: str, env: dict[str, str]) -> None: ...
    def set_weight(self, weight: int) -> str: ...          # returns what was set, for the log
    def mark(self) -> object: ...                          # a point in the measurement stream
    def measure(self, since: object) -> Metrics: ...       # the canary's traffic since `mark`
    def verify_canary(self, version: str) -> tuple[bool, str]: ...
    def promote(self, version: str, env: dict[str, str]) -> None: ...
    def rollback(self) -> None: ...


# HAProxy httplog: `... web app/SERVER TR/Tw/Tc/Tr/Ta STATUS ... {SYNTHETIC} "GET ..."`; the
# frontend captures the X-Tunestack-Synthetic request header into the braces.
_LOG_LINE = re.compile(r" \S+ [^/\s]+/(?P<server>\S+) -?\d+/-?\d+/-?\d+/-?\d+/(?P<ta>-?\d+) (?P<status>\d{3}) ")
SYNTHETIC_HEADER = "X-Tunestack-Synthetic"


def parse_haproxy_log(text: str, servers) -> Metrics:
    """The requests of `servers` (a server name, or several: a replica's server-template slots
    `<name>-<n>` count as the replica) in HAProxy's httplog."""
    names = {servers} if isinstance(servers, str) else set(servers)
    requests = errors = synthetic = 0
    latencies: list[float] = []
    for line in text.splitlines():
        m = _LOG_LINE.search(line)
        if not m or not (m.group("server") in names or m.group("server").rsplit("-", 1)[0] in names):
            continue
        requests += 1
        errors += m.group("status").startswith("5")
        synthetic += "{1}" in line
        if int(m.group("ta")) >= 0:
            latencies.append(float(m.group("ta")))
    return Metrics(requests, errors, p95(latencies), synthetic)


def load_needed(min_requests: int, bake_s: float, weight: int) -> int:
    """Requests per second at the entry point that give the canary `min_requests` in one bake."""
    return math.ceil(min_requests / (bake_s * max(weight, 1) / 100))


class LocalEngine:
    """The local stack: a canary Gunicorn beside the stable one, HAProxy weights over its admin
    socket, and HAProxy's own request log for the canary's error rate and latency."""

    def __init__(self, local, say=print):
        self.local = local
        self.say = say
        plan = local.plan()
        self.stable_server = next(r.name for r in plan.replicas if r.track == "stable")
        self.canary_server = next(r.name for r in plan.replicas if r.track == "canary")
        self.canary_port = plan.rollout["canary_port"].value
        self.app_port = plan.app["port"].value
        self.socket_path = local.run / "haproxy" / "haproxy.sock"
        self.log_path = local.log / "haproxy.log"

    def _admin(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.socket_path))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode()

    def start_canary(self, version: str, env: dict[str, str]) -> None:
        self.local.write_rollout_programs(canary={"version": version, "env": env})
        self.local.ctl("reread")
        self.local.ctl("update")  # a changed canary program is stopped and re-added here
        if "web-canary" not in self.local.running_services():
            self.local.ctl("start", "web-canary")
        from .local import wait_until
        wait_until(lambda: port_open(self.canary_port), 60, f"canary on port {self.canary_port}")
        # HAProxy must see the canary healthy before it gets traffic.
        wait_until(lambda: "UP" in self._server_state(self.canary_server), 30, "HAProxy health check of the canary")

    def _server_state(self, server: str) -> str:
        out = self._admin("show servers state app")
        for line in out.splitlines():
            parts = line.split()
            if len(parts) > 5 and parts[3] == server:
                return "UP" if parts[5] == "2" else "DOWN"
        return "unknown"

    def set_weight(self, weight: int) -> str:
        sp = beside(weight)  # the same weights the plan renders into haproxy.cfg
        self._admin(f"set weight app/{self.stable_server} {sp.stable_server_weight}")
        self._admin(f"set weight app/{self.canary_server} {sp.canary_server_weight}")
        return f"HAProxy weights {self.stable_server}={sp.stable_server_weight} {self.canary_server}={sp.canary_server_weight}"

    def mark(self) -> tuple[int, int]:
        """Where the log stands: (inode, size). supervisord rotates haproxy.log by renaming it to
        haproxy.log.1, so a position is only meaningful together with the file it is in."""
        try:
            st = self.log_path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (st.st_ino, st.st_size)

    def read_since(self, since) -> str:
        """The log text written since `mark()`, across a rotation in between."""
        inode, offset = since
        parts = []
        rotated = self.log_path.with_name(self.log_path.name + ".1")
        current_inode = self.log_path.stat().st_ino if self.log_path.exists() else 0
        if inode and inode != current_inode and rotated.exists() and rotated.stat().st_ino == inode:
            with open(rotated, "rb") as f:   # the rest of the file we were in when it rotated
                f.seek(offset)
                parts.append(f.read())
            offset = 0
        elif inode != current_inode:
            offset = 0
        if self.log_path.exists():
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                parts.append(f.read())
        return b"".join(parts).decode(errors="replace")

    def measure(self, since) -> Metrics:
        return parse_haproxy_log(self.read_since(since), self.canary_server)

    def verify_canary(self, version: str) -> tuple[bool, str]:
        """testinfra on the canary's host: the process runs the new version and listens."""
        import testinfra

        host = testinfra.get_host("local://")
        if not host.socket(f"tcp://127.0.0.1:{self.canary_port}").is_listening:
            return False, f"nothing listens on 127.0.0.1:{self.canary_port}"
        pid = self.local.rpc().supervisor.getProcessInfo("web-canary")["pid"]
        variables = host.file(f"/proc/{pid}/environ").content_string if pid else ""
        if f"APP_VERSION={version}" not in variables.split("\0"):
            return False, f"canary process {pid} does not run APP_VERSION={version}"
        return True, f"canary pid {pid} runs {version} on :{self.canary_port}"

    def promote(self, version: str, env: dict[str, str]) -> None:
        """The canary serves everything while stable restarts on the new version; then traffic
        returns to stable and the canary slot is emptied. No moment without a healthy server."""
        from .local import wait_until

        self.set_weight(100)
        self.local.write_rollout_programs(stable={"version": version, "env": env})
        self.local.ctl("reread")
        self.local.ctl("update")  # the changed stable program is stopped and re-added
        if "web" not in self.local.running_services():
            self.local.ctl("start", "web")
        wait_until(lambda: port_open(self.app_port), 60, "stable app")
        wait_until(lambda: "UP" in self._server_state(self.stable_server), 30, "HAProxy health check of stable")
        self.set_weight(0)
        self.local.write_rollout_programs(canary=None)
        self.local.ctl("reread")
        self.local.ctl("update")

    def rollback(self) -> None:
        self.set_weight(0)
        self.local.write_rollout_programs(canary=None)
        self.local.ctl("reread")
        self.local.ctl("update")


class PulumiStack(Protocol):
    """The part of `pulumi.automation.Stack` a Docker rollout uses (the tests stand in a replay)."""

    def set_config(self, key: str, value, *, path: bool = False) -> None: ...
    def remove_config(self, key: str, *, path: bool = False) -> None: ...
    def up(self, **kwargs): ...


class LoadBalancerControl:
    """HAProxy's admin socket inside the load balancer's container, through `docker exec` with
    DOCKER_HOST pointed at its host (ssh://user@address): the socket is never on the network."""

    def __init__(self, container: str, docker_host: str, env: dict[str, str] | None = None):
        self.container, self.docker_host = container, docker_host
        self.env = {**(env or os.environ), "DOCKER_HOST": docker_host}

    def _docker(self, *args: str) -> str:
        import subprocess

        res = subprocess.run(["docker", *args], capture_output=True, text=True, env=self.env, timeout=60)
        if res.returncode:
            raise RuntimeError(f"docker {' '.join(args[:3])} on {self.docker_host}: {res.stderr.strip()[-500:]}")
        return res.stdout

    def set_weights(self, weights: dict[str, int]) -> None:
        """Server name (or replica name of a server-template's slots) → HAProxy weight, at once."""
        self._docker("exec", self.container, "tunestack-lb", "weight",
                     *[x for name, w in weights.items() for x in (name, str(w))])

    def log_since(self, since: float) -> str:
        """HAProxy's request log (its stdout) since a moment of this machine's clock."""
        return self._docker("logs", "--since", f"{since:.3f}", self.container)


class CanaryHostCheck:
    """The host gate of a Docker rollout: testinfra on each canary's machine, inside its web
    containers (found by their tunestack.replica label, reached with `docker exec` over the
    machine's DOCKER_HOST): the app listens on the planned port and runs on the canary track, and
    Docker reports the container healthy on the new image."""

    def __init__(self, plan, env: dict[str, str] | None = None):
        from .images import docker_url

        self.port = plan.app["port"].value
        self.bind = plan.placement.app_bind   # testinfra's tcp://PORT means every address family; ask for this one
        self.machine_of = {r.name: docker_url(r.host, r.machine) for r in plan.placement.replicas}
        self.env = env

    def _docker(self, url: str, *args: str) -> str:
        import subprocess

        res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60,
                             env={**(self.env or os.environ), "DOCKER_HOST": url})
        return res.stdout if res.returncode == 0 else ""

    def _containers(self, url: str, replica: str) -> list[str]:
        return self._docker(url, "ps", "--filter", f"label=tunestack.replica={replica}", "--filter",
                            "label=tunestack.service=web", "--format", "{{.Names}}").split()

    def _host_problems(self, url: str, name: str, version: str) -> list[str]:
        import testinfra

        out = []
        # testinfra's docker backend runs `docker exec` with this process's environment.
        path = self.env["PATH"] if self.env and "PATH" in self.env else os.environ.get("PATH")
        with environ(DOCKER_HOST=url, PATH=path):
            host = testinfra.get_host(f"docker://{name}")
            if not host.socket(f"tcp://{self.bind}:{self.port}").is_listening:
                out.append(f"{name}: nothing listens on {self.bind}:{self.port}")
            variables = host.file("/proc/1/environ").content_string.split("\0")
            if "TUNESTACK_TRACK=canary" not in variables:
                out.append(f"{name}: its process is not on the canary track")
        state = self._docker(url, "inspect", "--format", "{{.State.Health.Status}} {{.Image}}", name).split()
        if len(state) != 2 or state[0] != "healthy":
            out.append(f"{name}: Docker reports it {state[0] if state else 'missing'}, not healthy")
        elif version not in self._docker(url, "image", "inspect", "--format", "{{json .RepoTags}}", state[1]):
            out.append(f"{name}: runs image {state[1][:19]}, not {version}")
        return out

    def __call__(self, version: str, canaries: list[str]) -> tuple[bool, str]:
        problems, checked = [], 0
        for replica in canaries:
            url = self.machine_of[replica]
            names = self._containers(url, replica)
            if not names:
                problems.append(f"{replica}: no running web container on {url}")
            for name in names:
                problems += self._host_problems(url, name, version)
                checked += 1
        if problems:
            return False, "; ".join(problems)
        return True, f"{checked} canary container(s) listen on :{self.port}, healthy on {version}"


class DockerEngine:
    """A rollout of a Pulumi Docker stack (issue #12). The program is applied twice: to start the
    canary replicas at weight 0 (tunestack:canaryReplicas, canaryEnv, images.canary_app) and to
    promote or roll back at the end. Every step in between is HAProxy weights at run time, set
    through the admin socket over SSH: seconds, and the load balancer is never replaced. Each step
    also writes tunestack:canaryWeight, so the stack file says where the rollout stands and a
    `pulumi up` meanwhile renders the same weights. Gates read HAProxy's own request log of the
    canary servers; the host gate is testinfra inside the canary containers (CanaryHostCheck)."""

    def __init__(self, plan, stack: PulumiStack, lb: LoadBalancerControl, verify_fn=None, say=print):
        """`verify_fn(version, canaries)`: the host gate; CanaryHostCheck(plan) unless given."""
        self.plan, self.stack, self.lb, self.say = plan, stack, lb, say
        self.verify_fn = verify_fn or CanaryHostCheck(plan, getattr(lb, "env", None))
        self.replicas = [r.name for r in plan.placement.replicas]
        self.canaries = self.replicas[:plan.rollout["canary_replicas"].value]   # the first ones, as the plan places them

    def _set(self, key: str, value: str, path: bool = False) -> None:
        from pulumi import automation as auto
        self.stack.set_config(key, auto.ConfigValue(value=value), path=path)

    def _up(self, message: str) -> None:
        self.stack.up(on_output=self.say, message=message)

    def start_canary(self, version: str, env: dict[str, str]) -> None:
        self.stack.remove_config("tunestack:canaryEnv")
        for key, value in env.items():
            self._set(f"tunestack:canaryEnv.{key}", value, path=True)
        self._set("tunestack:images.canary_app", version, path=True)
        self._set("tunestack:canaryReplicas", str(len(self.canaries)))
        self._set("tunestack:canaryWeight", "0")
        self._up(f"rollout: start {len(self.canaries)} canary replica(s) of {version} at weight 0")

    def set_weight(self, weight: int) -> str:
        from .plan.rollout import fixed_split

        sp = fixed_split(len(self.replicas), len(self.canaries), weight)
        self.lb.set_weights({name: sp.canary_server_weight if name in self.canaries else sp.stable_server_weight
                             for name in self.replicas})
        self._set("tunestack:canaryWeight", str(weight))
        return (f"HAProxy weights at run time: {len(self.canaries)} canary × {sp.canary_server_weight}, "
                f"{len(self.replicas) - len(self.canaries)} stable × {sp.stable_server_weight}")

    def mark(self) -> float:
        return time.time()

    def measure(self, since: float) -> Metrics:
        return parse_haproxy_log(self.lb.log_since(since), self.canaries)

    def verify_canary(self, version: str) -> tuple[bool, str]:
        return self.verify_fn(version, self.canaries)

    def promote(self, version: str, env: dict[str, str]) -> None:
        self.set_weight(100)   # the canaries carry everything while stable replicas take the new version
        self._set("tunestack:images.app", version, path=True)
        self._finish(f"rollout: promote {version}")

    def rollback(self) -> None:
        self.set_weight(0)     # traffic leaves the canary now; the program then puts its replicas back
        self._finish("rollout: roll back to stable")

    def _finish(self, message: str) -> None:
        self._set("tunestack:canaryWeight", "0")
        self._set("tunestack:canaryReplicas", "0")
        self.stack.remove_config("tunestack:canaryEnv")
        self._up(message)


# --- the controller --------------------------------------------------------------------------------
def parse_steps(text: str) -> list[int]:
    try:
        steps = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--steps {text!r}: whole percentages separated by commas, e.g. 10,25,50,100") from None
    if not steps:
        raise UsageError("--steps: at least one step")
    bad = [s for s in steps if not 1 <= s <= 100]
    if bad:
        raise UsageError(f"--steps {text!r}: {bad[0]} is not a weight between 1 and 100")
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise UsageError(f"--steps {text!r}: weights must rise step by step, e.g. 10,25,50,100")
    if steps[-1] != 100:
        raise UsageError(f"--steps {text!r}: the last step must be 100")
    return steps


def parse_bake(text: str) -> float:
    try:
        return parse_duration_ms(text) / 1000
    except UnitError as exc:
        raise UsageError(f"--bake {text!r}: {exc}") from None


class Rollout:
    def __init__(self, engine: Engine, store: StateStore, gates, say=print, clock=time.monotonic,
                 sleep=time.sleep, progress_every: float = 5.0, load=None, notify=None):
        """`load`: a factory of a context manager that sends bounded synthetic traffic while a
        step bakes (`--load RATE`), for stacks nobody is using. `notify(event: dict)`: told of
        every promotion, pause and rollback (a webhook, `--notify URL`)."""
        self.engine, self.store, self.gates, self.say = engine, store, gates, say
        self.clock, self.sleep, self.progress_every = clock, sleep, progress_every
        self.load = load
        self.notify = notify or (lambda event: None)

    def _tell(self, state: RolloutState, event: str, detail: str) -> None:
        self.notify({"event": event, "version": state.version, "stable": state.stable_version,
                     "weight": state.weight, "step": state.step + 1, "steps": state.steps, "detail": detail,
                     "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def _save(self, state: RolloutState, event: str) -> None:
        state.history.append({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "step": state.step,
                              "phase": state.phase, "event": event})
        self.store.save(state)

    def run(self, version: str, env: dict[str, str], steps: list[int], bake_s: float,
            pause_at: int | None = None) -> int:
        if pause_at is not None and pause_at not in steps[:-1]:
            raise UsageError(f"--pause-at {pause_at}: pause at one of the steps before the last "
                             f"({', '.join(map(str, steps[:-1])) or 'none'}), e.g. --pause-at {steps[0]}")
        state = self.store.load()
        if state and state.phase == "paused" and state.version == version:
            self.say(f"{version} is paused at {state.weight}% (--pause-at): `rollout promote` goes on, "
                     "`rollout abort` goes back")
            return 0
        if state and state.active and state.version == version:
            self.say(f"resuming {version} at step {state.step + 1}/{len(state.steps)} ({state.weight}%), "
                     f"phase {state.phase}")
            state.env = env or state.env
            self.engine.start_canary(version, state.env)  # after a restart the canary may be gone
        else:
            stable_version = state.stable_version if state else "stable"
            stable_env = state.stable_env if state else {}
            if state and state.phase == "promoted":
                stable_version, stable_env = state.version, state.env
            if state and state.active:
                self.say(f"a new version arrived during the rollout of {state.version}: "
                         f"rolling back and starting {version} at step 0")
                self.engine.rollback()
            state = RolloutState(version, env, steps, bake_s, stable_version=stable_version, stable_env=stable_env,
                                 pause_at=pause_at)
            self._save(state, f"start {version}")
            self.engine.start_canary(version, env)
        while True:
            weight = state.weight
            if state.phase == "setWeight":
                what = self.engine.set_weight(weight)
                self.say(f"step {state.step + 1}/{len(state.steps)}: {weight}% → {what}")
                state.phase = "pause"
                self._save(state, f"setWeight {weight}")
            else:  # resumed in pause or analysis: make sure the weight is in force again
                self.engine.set_weight(weight)
            # pause, then analysis. A resumed step bakes afresh: its measurements must be its own.
            mark = self.engine.mark()
            self._bake(state, weight)
            state.phase = "analysis"
            self._save(state, f"baked {state.bake_s:g}s")
            metrics = self.engine.measure(mark)
            results = evaluate(metrics, *self.gates)
            ok_host, host_detail = self.engine.verify_canary(state.version)
            results.append(GateResult("testinfra on canary host", ok_host, host_detail, "passes"))
            for r in results:
                self.say(f"  gate {r.name:<26} {'pass' if r.ok else 'FAIL'}  measured {r.measured}, needs {r.threshold}")
            if not results[0].ok:
                rate = load_needed(self.gates[2], state.bake_s, weight)
                self.say(f"  the canary got {metrics.requests} request(s) in the {state.bake_s:g}s bake at {weight}%, "
                         f"and the gates need {self.gates[2]}: is anyone using this stack? Send traffic, or let the "
                         f"rollout send it: --load {rate} (requests/s at the entry point)")
            failed = [r for r in results if not r.ok]
            if failed:
                self.say(f"rolling back: {', '.join(r.name for r in failed)} failed at {weight}%")
                self.engine.rollback()
                state.phase = "aborted"
                why = "; ".join(f"{r.name} {r.measured}" for r in failed)
                self._save(state, "analysis failed: " + why)
                self._tell(state, "rollback", why)
                return 1
            if state.step + 1 >= len(state.steps):
                return self._promote(state)
            if state.pause_at == weight:
                state.phase = "paused"
                self._save(state, f"analysis passed at {weight}%; paused (--pause-at) until promote")
                self._tell(state, "paused", f"gates passed at {weight}%; waiting for `rollout promote`")
                self.say(f"paused at {weight}%: the gates passed. `tunestack rollout promote` goes on to "
                         f"{state.steps[state.step + 1]}%, `tunestack rollout abort` goes back")
                return 0
            state.step += 1
            state.phase = "setWeight"
            self._save(state, f"analysis passed at {weight}%")

    def _bake(self, state: RolloutState, weight: int) -> None:
        with self.load() if self.load else contextlib.nullcontext():
            self._wait(state, weight)

    def _wait(self, state: RolloutState, weight: int) -> None:
        from .console import bar

        start = self.clock()
        next_report = start
        with bar(f"baking {weight}%", state.bake_s) as advance:
            while True:
                elapsed = self.clock() - start
                if elapsed >= state.bake_s:
                    break
                if advance:
                    advance(elapsed)
                elif self.clock() >= next_report:
                    self.say(f"  baking {weight}%: {elapsed:4.0f}s / {state.bake_s:g}s")
                    next_report += self.progress_every
                self.sleep(min(1.0, state.bake_s - elapsed))

    def _promote(self, state: RolloutState) -> int:
        self.engine.promote(state.version, state.env)
        state.phase = "promoted"
        state.stable_version, state.stable_env = state.version, state.env
        self._save(state, f"promoted {state.version} to stable")
        self._tell(state, "promoted", f"{state.version} is stable")
        self.say(f"{state.version} is stable")
        return 0

    def promote(self, version: str | None) -> int:
        """A rollout paused at its manual gate goes on through its remaining steps (their gates
        still apply); any other rollout in progress skips its remaining steps."""
        state = self.store.load()
        if not state or not state.active:
            raise UsageError("no rollout in progress to promote")
        if version and version != state.version:
            raise UsageError(f"version {version!r} is not being rolled out; the rollout in progress is {state.version!r}")
        if state.phase == "paused":
            state.step += 1
            state.phase = "setWeight"
            self._save(state, "promoted by hand past the manual gate")
            self.say(f"going on from the manual gate: {state.steps[state.step:]}")
            return self.run(state.version, state.env, state.steps, state.bake_s)
        self.say(f"promoting {state.version}: skipping steps {state.steps[state.step:]}")
        return self._promote(state)

    def abort(self) -> int:
        state = self.store.load()
        if not state or not state.active:
            raise UsageError("no rollout in progress to abort")
        self.engine.rollback()
        state.phase = "aborted"
        self._save(state, "aborted by hand")
        self._tell(state, "rollback", "aborted by hand")
        self.say(f"aborted {state.version}; traffic is on {state.stable_version}")
        return 0


def webhook(url: str, say=print):
    """`notify` for a webhook: POST the event as JSON, retried briefly (tenacity); a webhook that
    stays down is reported, never a reason to stop a rollout or a rollback."""
    import urllib.request

    from tenacity import retry, stop_after_attempt, wait_fixed

    @retry(stop=stop_after_attempt(3), wait=wait_fixed(1), reraise=True)
    def post(body: bytes) -> None:
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "tunestack-rollout"})
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def notify(event: dict) -> None:
        try:
            post(json.dumps(event).encode())
        except Exception as exc:   # any network or HTTP failure: said, never fatal
            say(f"  webhook {url}: {event['event']} not delivered ({exc})")
    return notify


def describe(state: RolloutState | None) -> str:
    if state is None:
        return "no rollout yet"
    lines = [f"version {state.version}: {state.phase}"
             + (f" at step {state.step + 1}/{len(state.steps)} ({state.weight}%)" if state.active else ""),
             f"stable: {state.stable_version}", "history:"]
    lines += [f"  {h['at']}  step {h['step'] + 1} {h['phase']:<10} {h['event']}" for h in state.history[-10:]]
    return "\n".join(lines)
