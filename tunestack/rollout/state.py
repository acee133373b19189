"""What a rollout is (its version, steps, phase and history) and where it is kept."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

PHASES = ("setWeight", "pause", "analysis", "paused")   # paused: a manual gate (--pause-at), until promote


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


def describe(state: RolloutState | None) -> str:
    if state is None:
        return "no rollout yet"
    lines = [f"version {state.version}: {state.phase}"
             + (f" at step {state.step + 1}/{len(state.steps)} ({state.weight}%)" if state.active else ""),
             f"stable: {state.stable_version}", "history:"]
    lines += [f"  {h['at']}  step {h['step'] + 1} {h['phase']:<10} {h['event']}" for h in state.history[-10:]]
    return "\n".join(lines)
