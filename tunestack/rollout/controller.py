"""The rollout state machine: setWeight → pause (bake) → analysis per step, a failed analysis
rolls back, `promote` and `abort` by hand. It moves traffic only through its engine."""
from __future__ import annotations

import contextlib
import time

from ..errors import UsageError
from ..console import fit
from ..units import utc_timestamp
from .gates import GateResult, evaluate, load_needed
from .state import RolloutState, StateStore


def parse_steps(text: str) -> list[int]:
    """Weights in %, rising, ending at 100, from `10,25,50,100`. ValueError says what is allowed
    (the caller names the flag or key)."""
    try:
        steps = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError("whole percentages separated by commas, e.g. 10,25,50,100") from None
    if not steps:
        raise ValueError("at least one step")
    bad = [s for s in steps if not 1 <= s <= 100]
    if bad:
        raise ValueError(f"{bad[0]} is not a weight between 1 and 100")
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError("weights must rise step by step, e.g. 10,25,50,100")
    if steps[-1] != 100:
        raise ValueError("the last step must be 100")
    return steps


class Rollout:
    def __init__(self, engine, store: StateStore, gates, say=print, clock=time.monotonic,
                 sleep=time.sleep, progress_every: float = 5.0, load=None, notify=None, stack_hint: str = "",
                 remember: dict | None = None):
        """`load`: a factory of a context manager that sends bounded synthetic traffic while a
        step bakes (`--load RATE`), for stacks nobody is using. `notify(event: dict)`: told of
        every promotion, pause and rollback (a webhook, `--notify URL`). `stack_hint`: the
        options that name this stack in the commands a message suggests (`-s NAME`)."""
        self.engine, self.store, self.gates, self.say = engine, store, gates, say
        self.clock, self.sleep, self.progress_every = clock, sleep, progress_every
        self.load = load
        self.notify = notify or (lambda event: None)
        self.stack_hint = f" {stack_hint}" if stack_hint else ""
        self.remember = remember or {}   # how this rollout was started: RolloutState's load and notify

    def _tell(self, state: RolloutState, event: str, detail: str) -> None:
        self.notify({"event": event, "version": state.version, "stable": state.stable_version,
                     "weight": state.weight, "step": state.step + 1, "steps": state.steps, "detail": detail,
                     "at": utc_timestamp()})

    def _save(self, state: RolloutState, event: str) -> None:
        state.history.append({"at": utc_timestamp(), "step": state.step, "phase": state.phase, "event": event})
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
        state = self._begin(state, version, env, steps, bake_s, pause_at)
        while True:
            code = self._step(state)
            if code is not None:
                return code

    def _begin(self, state: RolloutState | None, version: str, env: dict[str, str], steps: list[int],
               bake_s: float, pause_at: int | None) -> RolloutState:
        """Resume the rollout of `version`, or start it at step 0 (rolling back another in progress)."""
        if state and state.active and state.version == version:
            self.say(f"resuming {version} at step {state.step + 1}/{len(state.steps)} ({state.weight}%), "
                     f"phase {state.phase}")
            state.env = env or state.env
            self.engine.start_canary(version, state.env)  # after a restart the canary may be gone
            return state
        stable_version = state.stable_version if state else "stable"
        stable_env = state.stable_env if state else {}
        if state and state.phase == "promoted":
            stable_version, stable_env = state.version, state.env
        if state and state.active:
            self.say(f"a new version arrived during the rollout of {state.version}: "
                     f"rolling back and starting {version} at step 0")
            self.engine.rollback()
        state = RolloutState(version, env, steps, bake_s, stable_version=stable_version, stable_env=stable_env,
                             pause_at=pause_at, **self.remember)
        self._save(state, f"start {version}")
        self.engine.start_canary(version, env)
        return state

    def _step(self, state: RolloutState) -> int | None:
        """One step: set the weight, bake, analyse. An exit code when the rollout stops here."""
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
        failed = self._analyse(state, mark, weight)
        if failed:
            return self._roll_back(state, failed, weight)
        if state.step + 1 >= len(state.steps):
            return self._promote(state)
        if state.pause_at == weight:
            state.phase = "paused"
            self._save(state, f"analysis passed at {weight}%; paused (--pause-at) until promote")
            self._tell(state, "paused", f"gates passed at {weight}%; waiting for `rollout promote`")
            self.say(f"paused at {weight}%: the gates passed. `tunestack rollout promote{self.stack_hint}` goes on to "
                     f"{state.steps[state.step + 1]}%, `tunestack rollout abort{self.stack_hint}` goes back")
            return 0
        state.step += 1
        state.phase = "setWeight"
        self._save(state, f"analysis passed at {weight}%")
        return None

    def _analyse(self, state: RolloutState, mark, weight: int) -> list[GateResult]:
        """Every gate on the canary's traffic since `mark`, said line by line; the failed ones."""
        metrics = self.engine.measure(mark)
        results = evaluate(metrics, *self.gates)
        ok_host, host_detail = self.engine.verify_canary(state.version)
        results.append(GateResult("testinfra on canary host", ok_host, host_detail, "passes"))
        for r in results:
            self.say(fit(f"  gate {r.name:<26} {'pass' if r.ok else 'FAIL'}  measured {r.measured}, needs {r.threshold}"))
        for query, value in metrics.source:   # where the measurements came from, as asked
            self.say(fit(f"    {query} = {value}", indent=8))
        if not results[0].ok:
            rate = load_needed(self.gates[2], state.bake_s, weight)
            self.say(f"  the canary got {metrics.requests} request(s) in the {state.bake_s:g}s bake at {weight}%, "
                     f"and the gates need {self.gates[2]}: is anyone using this stack? Send traffic, or let the "
                     f"rollout send it: --load {rate} (requests/s at the entry point)")
        return [r for r in results if not r.ok]

    def _roll_back(self, state: RolloutState, failed: list[GateResult], weight: int) -> int:
        self.say(f"rolling back: {', '.join(r.name for r in failed)} failed at {weight}%")
        self.engine.rollback()
        state.phase = "aborted"
        why = "; ".join(f"{r.name} {r.measured} (needs {r.threshold})" for r in failed)
        self._save(state, "analysis failed: " + why)
        self._tell(state, "rollback", why)
        return 1

    def _bake(self, state: RolloutState, weight: int) -> None:
        with self.load() if self.load else contextlib.nullcontext():
            self._wait(state, weight)

    def _wait(self, state: RolloutState, weight: int) -> None:
        from ..console import bar

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
