"""The rollout state machine with a recording engine, and the Pulumi engine through its narrow
interface (a fake Automation API stack). Semantics: Argo Rollouts / Flagger — setWeight, pause,
analysis; a failed analysis aborts and rolls back; no data fails a gate."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from tunestack.errors import UsageError
from tunestack.rollout import (Metrics, Rollout, StateStore, evaluate, p95, parse_haproxy_log,
                               parse_steps)

GATES = (0.01, 200.0, 10)


class RecordingEngine:
    def __init__(self, metrics_per_step):
        self.metrics = list(metrics_per_step)
        self.calls = []

    def start_canary(self, version, env):
        self.calls.append(("start", version))

    def set_weight(self, weight):
        self.calls.append(("weight", weight))
        return f"w={weight}"

    def mark(self):
        return len(self.calls)

    def measure(self, since):
        return self.metrics.pop(0)

    def verify_canary(self, version):
        return True, "ok"

    def promote(self, version, env):
        self.calls.append(("promote", version))

    def rollback(self):
        self.calls.append(("rollback",))


def controller(engine, tmp_path):
    return Rollout(engine, StateStore(tmp_path / "rollout.json"), GATES, say=lambda m: None,
                   clock=iter(range(0, 10_000)).__next__, sleep=lambda s: None)


GOOD = Metrics(100, 0, 50.0)


def test_healthy_version_goes_to_100_and_becomes_stable(tmp_path):
    engine = RecordingEngine([GOOD] * 4)
    assert controller(engine, tmp_path).run("v2", {}, [10, 25, 50, 100], 3) == 0
    weights = [c[1] for c in engine.calls if c[0] == "weight"]
    assert sorted(set(weights)) == [10, 25, 50, 100] and weights == sorted(weights)
    assert engine.calls[-1] == ("promote", "v2")
    state = StateStore(tmp_path / "rollout.json").load()
    assert state.phase == "promoted" and state.stable_version == "v2"


@pytest.mark.parametrize("bad,gate", [(Metrics(100, 5, 50.0), "error rate"), (Metrics(100, 0, 450.0), "p95 latency"),
                                      (Metrics(0, 0, None), "min requests")])
def test_failed_gate_rolls_back(tmp_path, bad, gate):
    engine = RecordingEngine([GOOD, bad])
    assert controller(engine, tmp_path).run("v2", {}, [10, 25, 50, 100], 3) == 1
    assert engine.calls[-1] == ("rollback",)
    state = StateStore(tmp_path / "rollout.json").load()
    assert state.phase == "aborted" and state.step == 1 and gate in state.history[-1]["event"]


def test_no_data_fails_never_passes():
    results = {r.name: r.ok for r in evaluate(Metrics(0, 0, None), *GATES)}
    assert results == {"min requests": False, "error rate": False, "p95 latency": False}


def test_resume_at_the_same_step(tmp_path):
    store = StateStore(tmp_path / "rollout.json")
    engine = RecordingEngine([GOOD])

    class Killed(Exception):
        pass

    def measure_then_die(since):
        if engine.metrics:
            return engine.metrics.pop(0)
        raise Killed  # the process dies while analysing step 2
    engine.measure = measure_then_die
    with pytest.raises(Killed):
        controller(engine, tmp_path).run("v2", {}, [10, 25, 50, 100], 3)
    assert store.load().step == 1
    engine2 = RecordingEngine([GOOD] * 3)
    assert controller(engine2, tmp_path).run("v2", {}, [10, 25, 50, 100], 3) == 0
    assert [c[1] for c in engine2.calls if c[0] == "weight"][0] == 25  # not back at 10


def test_new_version_during_rollout_starts_at_step_zero(tmp_path):
    engine = RecordingEngine([GOOD])
    engine.measure = lambda since: (_ for _ in ()).throw(KeyboardInterrupt) if not engine.metrics else engine.metrics.pop(0)
    with pytest.raises(KeyboardInterrupt):
        controller(engine, tmp_path).run("v2", {}, [10, 25, 50, 100], 3)
    engine3 = RecordingEngine([GOOD] * 4)
    assert controller(engine3, tmp_path).run("v3", {}, [10, 25, 50, 100], 3) == 0
    assert engine3.calls[0] == ("rollback",) and ("weight", 10) in engine3.calls


def test_promote_and_abort(tmp_path):
    store = StateStore(tmp_path / "rollout.json")
    engine = RecordingEngine([GOOD])
    engine.measure = lambda since: (_ for _ in ()).throw(KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        controller(engine, tmp_path).run("v2", {}, [10, 25, 50, 100], 3)
    with pytest.raises(UsageError, match="'v9' is not being rolled out"):
        controller(engine, tmp_path).promote("v9")
    assert controller(engine, tmp_path).promote("v2") == 0 and store.load().phase == "promoted"
    with pytest.raises(UsageError, match="no rollout in progress"):
        controller(engine, tmp_path).abort()


@pytest.mark.parametrize("text,message", [("25,10,100", "rise"), ("10,150", "between 1 and 100"),
                                          ("10,50", "last step must be 100"), ("ten", "whole percentages")])
def test_bad_steps(text, message):
    with pytest.raises(ValueError, match=message):
        parse_steps(text)


def test_haproxy_log_parsing_and_p95():
    # HAProxy httplog with the X-Tunestack-Synthetic request header captured in braces.
    log = ('127.0.0.1:1 [24/Nov/2026:18:56:32.873] web app/c1 0/0/0/26/26 200 182 - - ---- 1/1/0/0/0 0/0 {} "GET / HTTP/1.1"\n'
           '127.0.0.1:2 [24/Nov/2026:18:56:32.910] web app/s1 0/0/0/2/2 200 182 - - ---- 1/1/0/0/0 0/0 {1} "GET / HTTP/1.1"\n'
           '127.0.0.1:3 [24/Nov/2026:18:56:32.923] web app/c1 0/0/0/90/91 500 182 - - ---- 1/1/0/0/0 0/0 {1} "GET / HTTP/1.1"\n')
    assert parse_haproxy_log(log, "c1") == Metrics(requests=2, errors=1, p95_ms=91.0, synthetic=1)
    assert p95([float(x) for x in range(1, 101)]) == 95.0  # nearest rank


class FakeAutomationStack:
    """Records what the engine asks of pulumi.automation.Stack (and, in `events`, when)."""

    def __init__(self, events: list | None = None):
        self.config, self.ups = {}, []
        self.events = events if events is not None else []

    def set_config(self, key, value, *, path=False):
        self.config[key] = value.value

    def remove_config(self, key, *, path=False):
        for k in [k for k in self.config if k == key or k.startswith(key + ".")]:
            del self.config[k]

    def up(self, **kwargs):
        self.ups.append((kwargs.get("message"), dict(self.config)))
        self.events.append(("up", kwargs.get("message")))


class FakeLoadBalancer:
    def __init__(self, log="", events: list | None = None):
        self.weights, self.log = [], log
        self.events = events if events is not None else []

    def set_weights(self, weights):
        self.weights.append(dict(weights))
        self.events.append(("weights", dict(weights)))

    def mark_rollout(self, version, weight):
        self.events.append(("marker", version, weight))

    def clear_rollout(self):
        self.events.append(("marker cleared",))

    def log_since(self, since):
        return self.log


def canary_log(status: int, n: int = 30) -> str:
    return "".join(f'127.0.0.1:{i} [24/Nov/2026:18:56:32.873] web app/prod-app-web-{1 + i % 5} 0/0/0/26/26 '
                   f'{status} 182 - - ---- 1/1/0/0/0 0/0 {{}} "GET / HTTP/1.1"\n' for i in range(n))


def docker_engine(stack, lb):
    from tunestack.plan import plan_stack
    from tunestack.rollout import DockerEngine

    # prod's addresses belong to no one here: the host gate is a stand-in that never connects
    # (the real one, CanaryHostCheck, runs on the test bed in tests/multihost).
    return DockerEngine.for_stack(plan_stack("prod", target="docker"), stack, lb,
                        verify_fn=lambda version, canaries: (True, "stand-in host gate"), say=lambda m: None)


def test_docker_rollout_applies_the_program_twice_and_moves_weights_in_between(tmp_path):
    """Issue #12: the program starts the canary replicas at weight 0 and promotes at the end; each
    step is HAProxy weights at run time (no `up`), and writes canaryWeight for the stack file."""
    from tunestack.plan.rollout import fixed_split

    stack, lb = FakeAutomationStack(), FakeLoadBalancer(canary_log(200))
    engine = docker_engine(stack, lb)
    assert controller(engine, tmp_path).run("ghcr.io/example/shop:2.0", {"FEATURE": "on"}, [10, 50, 100], 3) == 0
    assert [u[0] for u in stack.ups] == ["rollout: start 5 canary replica(s) of ghcr.io/example/shop:2.0 at weight 0",
                                         "rollout: promote ghcr.io/example/shop:2.0"]
    started = stack.ups[0][1]
    assert started["tunestack:canaryReplicas"] == "5" and started["tunestack:canaryWeight"] == "0"
    assert started["tunestack:canaryEnv.FEATURE"] == "on"
    canary, stable = "prod-app-web-1", "prod-app-web-10"
    steps = lb.weights[1:-2]   # between the drain before the start and the weights around the promote
    assert len(steps) == 3
    for weights, w in zip(steps, (10, 50, 100)):
        sp = fixed_split(10, 5, w)
        assert (weights[canary], weights[stable]) == (sp.canary_server_weight, sp.stable_server_weight)
    promoted = stack.ups[-1][1]
    assert promoted["tunestack:images.app"] == "ghcr.io/example/shop:2.0"
    assert promoted["tunestack:canaryReplicas"] == "0" and "tunestack:canaryEnv.FEATURE" not in promoted


def test_docker_rollout_rolls_back_by_weights_first(tmp_path):
    events = []
    stack, lb = FakeAutomationStack(events), FakeLoadBalancer(canary_log(500), events)
    assert controller(docker_engine(stack, lb), tmp_path).run("v2", {}, [10, 100], 3) == 1
    before_program = [e for e in events[:events.index(("up", "rollout: roll back to stable"))] if e[0] == "weights"]
    assert before_program[-1][1]["prod-app-web-1"] == 0, "traffic leaves the canary before the program runs"
    assert events[-1] == ("weights", {f"prod-app-web-{n}": 1 for n in range(1, 11)}), "all serve again after"
    assert stack.ups[-1] == ("rollout: roll back to stable", stack.config)
    assert stack.config["tunestack:canaryWeight"] == "0" and stack.config["tunestack:canaryReplicas"] == "0"


def weights_before(events: list, message_start: str) -> dict:
    """The load balancer's weights when the program ran the `up` whose message starts so."""
    at = next(i for i, e in enumerate(events) if e[0] == "up" and e[1].startswith(message_start))
    return next(e[1] for e in reversed(events[:at]) if e[0] == "weights")


@pytest.mark.parametrize("canaries", [1, 3])
def test_docker_start_never_serves_a_canary_before_its_gate(tmp_path, canaries):
    """Issue #25: start_canary applied the program first and set the new canaries' weights after,
    so they served at full weight before any gate. Now they leave the rotation before the program
    replaces them, and the stable ones carry the traffic."""
    from tunestack.rollout import DockerEngine

    events = []
    stack, lb = FakeAutomationStack(events), FakeLoadBalancer(canary_log(200), events)
    names = [f"prod-app-web-{n}" for n in range(1, 5)]
    engine = DockerEngine(stack, lb, names, names[:canaries], lambda v, c: (True, "stand-in"), say=lambda m: None)
    engine.start_canary("v2", {})
    weights = weights_before(events, "rollout: start")
    assert all(weights[n] == 0 for n in names[:canaries]) and all(weights[n] > 0 for n in names[canaries:])


@pytest.mark.parametrize("canaries", [1, 3])
def test_docker_promote_leaves_a_server_for_every_request(tmp_path, canaries):
    """Issue #25: promote gave the canaries everything and stable 0, then the program replaced
    replica 1, the canary: with one canary no weighted server was left. Now every replica serves
    while the program replaces them, one canary or several."""
    from tunestack.rollout import DockerEngine

    events = []
    stack, lb = FakeAutomationStack(events), FakeLoadBalancer(canary_log(200, n=150), events)   # 30 per replica
    names = [f"prod-app-web-{n}" for n in range(1, 5)]
    engine = DockerEngine(stack, lb, names, names[:canaries], lambda v, c: (True, "stand-in"), say=lambda m: None)
    assert controller(engine, tmp_path).run("v2", {}, [25, 100], 3) == 0
    during = weights_before(events, "rollout: promote")
    # whichever replica the program replaces first, the others keep a weight
    assert all(sum(w for n, w in during.items() if n != replaced) > 0 for replaced in names)
    assert all(during[n] > 0 for n in names)


@pytest.mark.parametrize("min_requests,bake_s,weight,rate", [
    (20, 5, 10, 40),     # 10% of 40/s for 5 s = 20 requests
    (20, 30, 50, 2),     # 50% of 2/s for 30 s = 30 ≥ 20 (1/s would give 15)
    (100, 10, 100, 10),
])
def test_load_needed_gives_the_canary_its_minimum(min_requests, bake_s, weight, rate):
    from tunestack.rollout import load_needed

    assert load_needed(min_requests, bake_s, weight) == rate
    assert rate * bake_s * weight / 100 >= min_requests


def test_an_idle_canary_fails_and_the_rollout_says_how_to_send_load(tmp_path):
    lines = []
    rollout = Rollout(RecordingEngine([Metrics(0, 0, None)]), StateStore(tmp_path / "rollout.json"), GATES,
                      say=lines.append, clock=iter(range(0, 10_000)).__next__, sleep=lambda s: None)
    assert rollout.run("v2", {}, [10, 100], 5) == 1
    said = "\n".join(lines)
    assert "got 0 request(s) in the 5s bake at 10%" in said and "--load 20" in said   # 10 / (5 s × 10 %)


def test_load_runs_only_while_a_step_bakes(tmp_path):
    events = []

    class Traffic:
        def __enter__(self):
            events.append("load on")

        def __exit__(self, *exc):
            events.append("load off")

    engine = RecordingEngine([GOOD, GOOD])
    original = engine.measure
    engine.measure = lambda since: (events.append("measure"), original(since))[1]
    rollout = Rollout(engine, StateStore(tmp_path / "rollout.json"), GATES, say=lambda m: None,
                      clock=iter(range(0, 10_000)).__next__, sleep=lambda s: None, load=Traffic)
    assert rollout.run("v2", {}, [50, 100], 3) == 0
    assert events == ["load on", "load off", "measure"] * 2


def test_a_manual_gate_pauses_after_its_gates_pass_and_promote_goes_on(tmp_path):
    """Argo Rollouts' `pause: {}` step: the rollout waits at 50 % until promoted; the steps after it
    still bake and pass their gates."""
    events = []
    engine = RecordingEngine([GOOD] * 4)
    store = StateStore(tmp_path / "rollout.json")
    rollout = Rollout(engine, store, GATES, say=lambda m: None, clock=iter(range(0, 10_000)).__next__,
                      sleep=lambda s: None, notify=events.append)
    assert rollout.run("v2", {}, [10, 25, 50, 100], 3, pause_at=50) == 0
    assert store.load().phase == "paused" and store.load().weight == 50
    assert ("promote", "v2") not in engine.calls and [e["event"] for e in events] == ["paused"]
    assert rollout.run("v2", {}, [10, 25, 50, 100], 3, pause_at=50) == 0   # running it again stays paused
    assert store.load().phase == "paused"
    assert rollout.promote(None) == 0
    assert store.load().phase == "promoted" and engine.calls[-1] == ("promote", "v2")
    assert [c[1] for c in engine.calls if c[0] == "weight"][-1] == 100
    assert [e["event"] for e in events] == ["paused", "promoted"] and events[-1]["version"] == "v2"


def test_pause_at_must_be_a_step_before_the_last(tmp_path):
    with pytest.raises(UsageError, match="--pause-at 60"):
        controller(RecordingEngine([]), tmp_path).run("v2", {}, [10, 50, 100], 3, pause_at=60)


def test_a_rollback_is_told_to_the_webhook(tmp_path):
    """A webhook on a real HTTP server on loopback receives the rollback as JSON."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from tunestack.rollout import Metrics, webhook

    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        engine = RecordingEngine([Metrics(100, 50, 50.0)])
        hook = webhook(f"http://127.0.0.1:{server.server_port}/hook", say=lambda m: None)
        rollout = Rollout(engine, StateStore(tmp_path / "rollout.json"), GATES, say=lambda m: None,
                          clock=iter(range(0, 10_000)).__next__, sleep=lambda s: None, notify=hook)
        assert rollout.run("v3-bad", {}, [10, 100], 3) == 1
        assert received == [], "events wait until the command has released the stack's lock"
        hook.flush()
    finally:
        server.shutdown()
    assert [e["event"] for e in received] == ["rollback"]
    assert received[0]["version"] == "v3-bad" and "error rate" in received[0]["detail"]


def test_a_webhook_that_is_down_never_stops_a_rollback(tmp_path):
    from tunestack.rollout import Metrics, webhook
    from tests.realservers import free_port

    said = []
    engine = RecordingEngine([Metrics(100, 50, 50.0)])
    hook = webhook(f"http://127.0.0.1:{free_port()}/hook", say=said.append, deadline_s=3)
    rollout = Rollout(engine, StateStore(tmp_path / "rollout.json"), GATES, say=said.append,
                      clock=iter(range(0, 10_000)).__next__, sleep=lambda s: None, notify=hook)
    assert rollout.run("v3-bad", {}, [10, 100], 3) == 1
    hook.flush()
    assert engine.calls[-1] == ("rollback",) and any("not delivered" in m for m in said)


def test_the_state_is_private_and_status_masks_the_env(tmp_path, capsys, monkeypatch):
    """Issue #23: `--env API_TOKEN=…` was readable by any local user in a 0644 rollout.json and
    printed by `rollout status -j`. Now the file is 0600 in a 0700 folder and status masks values."""
    import json
    import os

    from tunestack.cli import main
    from tunestack.rollout import RolloutState

    monkeypatch.setenv("TUNESTACK_STATE_DIR", str(tmp_path / "state"))
    store = StateStore.in_folder(tmp_path / "state" / "local")
    store.save(RolloutState("v2", {"API_TOKEN": "s3cret-token"}, [10, 100], 60, stable_env={"OLD": "older-secret"}))
    assert os.stat(store.path).st_mode & 0o777 == 0o600
    assert os.stat(store.path.parent).st_mode & 0o777 == 0o700
    assert [p.name for p in store.path.parent.iterdir()] == ["rollout.json"], "no temporary file is left"
    assert main(["rollout", "status", "-s", "local", "-j"]) == 0
    out = capsys.readouterr().out
    assert "s3cret-token" not in out and "older-secret" not in out
    assert json.loads(out)["rollout"]["env"] == {"API_TOKEN": "••••••"}
    assert main(["rollout", "status", "-s", "local", "-j", "--show-env"]) == 0    # the tests run as root
    assert json.loads(capsys.readouterr().out)["rollout"]["env"] == {"API_TOKEN": "s3cret-token"}


def test_a_planted_temporary_file_is_never_followed(tmp_path):
    """The old writer used a fixed `rollout.tmp` name: a symlink planted there was written through."""
    target = tmp_path / "victim"
    target.write_text("keep me")
    store = StateStore(tmp_path / "rollout.json")
    (tmp_path / "rollout.tmp").symlink_to(target)
    from tunestack.rollout import RolloutState

    store.save(RolloutState("v2", {}, [100], 1))
    assert target.read_text() == "keep me" and store.load().version == "v2"


def test_a_rollout_remembers_how_it_was_started(tmp_path):
    """Issue #24: `rollout promote` forgot `--load` and the healthy version was rolled back for want
    of traffic. The state keeps the load and the webhook (masked in reports) for promote and resume."""
    from tunestack.rollout.state import public

    store = StateStore(tmp_path / "rollout.json")
    engine = RecordingEngine([Metrics(100, 0, 50.0)])
    rollout = Rollout(engine, store, GATES, say=lambda m: None, clock=iter(range(0, 10_000)).__next__,
                      sleep=lambda s: None, remember={"load": 30.0, "notify": "https://u:p@hooks.example/x?t=s3cret"})
    assert rollout.run("v2", {}, [10, 50, 100], 3, pause_at=10) == 0
    state = store.load()
    assert (state.phase, state.load, state.notify) == ("paused", 30.0, "https://u:p@hooks.example/x?t=s3cret")
    assert public(state)["notify"] == "https://hooks.example/x?…"


def test_a_failed_gate_says_its_threshold_in_the_history(tmp_path):
    store = StateStore(tmp_path / "rollout.json")
    rollout = Rollout(RecordingEngine([Metrics(100, 50, 50.0)]), store, GATES, say=lambda m: None,
                      clock=iter(range(0, 10_000)).__next__, sleep=lambda s: None)
    assert rollout.run("v3", {}, [10, 100], 3) == 1
    assert "error rate 50.00% (needs < 1.00%)" in store.load().history[-1]["event"]


@pytest.mark.parametrize("action,version,given,expected", [
    ("promote", None, None, 30.0),            # promote keeps the load it was started with
    ("start", "v2", None, 30.0),              # a resume of the same version too
    ("start", "v2", "50", "50"),              # unless given again
    ("start", "v3", None, None),              # a new version starts afresh
])
def test_promote_and_resume_reuse_the_started_settings(action, version, given, expected):
    from tunestack.cli.rollout import remembered
    from tunestack.rollout import RolloutState

    started = RolloutState("v2", {}, [10, 50, 100], 7.0, step=1, phase="paused", load=30.0, notify="https://h/x")
    args = SimpleNamespace(action=action, version=version, load=given, notify=None)
    steps, bake = remembered(args, started, [10, 25, 50, 100], 300.0)
    assert args.load == expected
    assert args.notify == (None if version == "v3" else "https://h/x")
    assert (steps, bake) == (([10, 50, 100], 7.0) if action == "promote" else ([10, 25, 50, 100], 300.0))


def test_a_docker_rollout_marks_itself_where_every_up_looks_and_clears_the_mark_to_finish(tmp_path):
    """Issue #25: the marker is set before the program starts the canaries (so an `up` from CI meanwhile
    is refused by the guard, components/rollout.py) and cleared just before the finishing `up`."""
    events = []
    stack, lb = FakeAutomationStack(events), FakeLoadBalancer(canary_log(200), events)
    assert controller(docker_engine(stack, lb), tmp_path).run("v2", {}, [10, 100], 3) == 0
    start = events.index(("up", "rollout: start 5 canary replica(s) of v2 at weight 0"))
    finish = events.index(("up", "rollout: promote v2"))
    assert ("marker", "v2", 0) in events[:start]
    assert ("marker", "v2", 10) in events[start:finish]
    assert ("marker cleared",) in events[start:finish]
    assert not any(e[0] == "marker" for e in events[events.index(("marker cleared",)):])


def test_a_one_replica_docker_rollout_runs_its_canary_beside_stable(tmp_path):
    """Issue #26, point 6: dev has one app replica, and the canary replaced it, so the "10 %" step
    sent the canary every request (canary_share_percent 100 in deploy.yml). The canary now gets a
    container of its own beside the stable replica: every step's share is the step's share, stable
    serves the rest, and the slot holds no traffic once the rollout ends (as Argo Rollouts'
    setCanaryScale keeps the canary's replicas apart from its traffic weight)."""
    from dataclasses import replace

    from tunestack import stackfile
    from tunestack.plan import build_plan
    from tunestack.rollout import DockerEngine

    spec = stackfile.load(stackfile.stack_path("dev"), name="dev")
    plan = build_plan(replace(spec, rollout=replace(spec.rollout, steps=(10, 25, 50, 100))), target="docker")
    log = re.sub(r"app/prod-app-web-\d+ ", "app/dev-app-web-canary ", canary_log(200))
    events = []
    stack, lb = FakeAutomationStack(events), FakeLoadBalancer(log, events)
    engine = DockerEngine.for_stack(plan, stack, lb, verify_fn=lambda v, c: (True, "stand-in"), say=lambda m: None)
    assert engine.canaries == ["dev-app-web-canary"] and engine.replicas == ["dev-app-web-1", "dev-app-web-canary"]
    assert controller(engine, tmp_path).run("tunestack/refapp:0.3.0", {}, [10, 25, 50, 100], 3) == 0
    started = stack.ups[0][1]
    assert started["tunestack:canaryReplicas"] == "1"
    steps = lb.weights[1:-2]
    for weights, w in zip(steps, (10, 25, 50, 100)):
        stable, canary = weights["dev-app-web-1"], weights["dev-app-web-canary"]
        assert 100 * canary / (stable + canary) == w, weights
    during = weights_before(events, "rollout: promote")
    assert during == {"dev-app-web-1": 1, "dev-app-web-canary": 1}, "both serve while the program replaces stable"
    assert lb.weights[-1] == {"dev-app-web-1": 1, "dev-app-web-canary": 0}, "the empty slot holds no traffic"


def test_the_plan_starts_the_one_replica_canary_beside_stable_at_weight_0():
    """The program's side of the same rollout: at the start (canaryReplicas 1, weight 0) the canary
    container runs at weight 0 and stable keeps every request; before and after, the slot is idle
    (no container), but HAProxy keeps its server so a rollout never adds one."""
    from tunestack import stackfile
    from tunestack.plan import build_plan
    from tunestack.plan.rollout import running

    path = stackfile.stack_path("dev")
    idle = build_plan(stackfile.load(path, name="dev"), target="docker")
    assert [(r.name, r.track, r.weight, r.idle) for r in idle.replicas] == [
        ("dev-app-web-1", "stable", 100, False), ("dev-app-web-canary", "canary", 0, True)]
    assert [r.name for r in running(idle.replicas)] == ["dev-app-web-1"]
    assert "dev-app-web-canary" in idle_render(idle)
    doc = stackfile.load_document  # the loader reads canaryReplicas as the engine writes it
    import yaml
    raw = yaml.safe_load(path.read_text())
    raw["config"]["tunestack:canaryReplicas"] = 1
    started = build_plan(doc(raw, str(path), "dev"), target="docker")
    assert [(r.name, r.weight, r.idle) for r in started.replicas] == [
        ("dev-app-web-1", 100, False), ("dev-app-web-canary", 0, False)]
    assert started.rollout["canary_replicas"].value == 1
    assert "beside the 1 stable replica" in started.rollout["canary_replicas"].reason


def idle_render(plan) -> str:
    from tunestack.render import Layout, render_plan
    return render_plan(plan, Layout(run_dir="/tmp"))["haproxy.cfg"]
