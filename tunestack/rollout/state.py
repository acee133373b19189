"""What a rollout is (its version, steps, phase and history) and where it is kept."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import SECRET_MASK as MASK

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
    # How the rollout was started, so that `promote`, a resume and Ctrl-C recovery go on the same way.
    load: float | None = None     # requests/s of synthetic load while each step bakes (--load)
    notify: str | None = None     # the webhook (--notify); masked in every report

    @property
    def active(self) -> bool:
        return self.phase in PHASES

    @property
    def weight(self) -> int:
        return self.steps[self.step]


class StateStore:
    """One JSON file, 0600 in a 0700 folder (it holds the versions' --env values); written
    atomically after every transition: a temporary file made with O_EXCL in the same folder
    (mkstemp: never a name someone planted), then renamed over the old one."""

    FILE = "rollout.json"

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def in_folder(cls, stack_dir: Path) -> "StateStore":
        """The store of a stack whose state lives in `stack_dir`: `<stack_dir>/rollout/rollout.json`."""
        return cls(stack_dir / "rollout" / cls.FILE)

    def load(self) -> RolloutState | None:
        if not self.path.exists():
            return None
        return RolloutState(**json.loads(self.path.read_text()))

    def save(self, state: RolloutState) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.parent.chmod(0o700)
        fd, tmp = tempfile.mkstemp(prefix=".rollout-", dir=self.path.parent)   # 0600, O_EXCL
        try:
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(asdict(state), indent=2))
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise


def public(state: RolloutState | None, show_env: bool = False) -> dict | None:
    """The state as `rollout status -j` prints it: the --env values masked unless asked for."""
    if state is None:
        return None
    from .notify import masked

    out = asdict(state)
    if not show_env:
        for key in ("env", "stable_env"):
            out[key] = {k: MASK for k in out[key]}
    if out.get("notify"):
        out["notify"] = masked(out["notify"])
    return out


# What each phase is called in reports: a step that bakes is not a rollout paused by hand.
PHASE_WORDS = {"setWeight": "setting weight", "pause": "baking", "analysis": "analysing",
               "paused": "paused (manual gate)", "promoted": "promoted", "aborted": "aborted"}


def history_line(h: dict) -> str:
    return f"  {h['at']}  step {h['step'] + 1} {PHASE_WORDS.get(h['phase'], h['phase']):<14} {h['event']}"


def describe(state: RolloutState | None) -> str:
    if state is None:
        return "no rollout yet"
    lines = [f"version {state.version}: {PHASE_WORDS.get(state.phase, state.phase)}"
             + (f" at step {state.step + 1}/{len(state.steps)} ({state.weight}%)" if state.active else ""),
             f"stable: {state.stable_version}", "history:"]
    lines += [history_line(h) for h in state.history[-10:]]
    return "\n".join(lines)
