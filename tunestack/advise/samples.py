"""The samples advise keeps between runs (advise-samples.jsonl in the stack's state folder, 0600):
each run adds one; those older than the window (at least a day) are dropped; the oldest within
the window, and at least MIN_WINDOW_S old, is compared with the newest."""
from __future__ import annotations

import json
from pathlib import Path

from .rules import MIN_WINDOW_S

KEEP_AT_LEAST_S = 86_400


class SampleStore:
    def __init__(self, path: Path):
        self.path = path

    def past(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def add(self, now: dict, window_s: float) -> list[dict]:
        """Store `now`, keep what a window of `window_s` (or a day) may still need; the samples
        there were before it."""
        past = self.past()
        keep = [s for s in past if now["at"] - s["at"] <= max(window_s, KEEP_AT_LEAST_S)] + [now]
        self.path.write_text("".join(json.dumps(s) + "\n" for s in keep))
        self.path.chmod(0o600)
        return past


def baseline(past: list[dict], now: dict, window_s: float) -> dict | None:
    """The oldest sample within the window that is at least MIN_WINDOW_S old and was taken under the
    same plan (a window that spans a plan change mixes two configurations: it starts again), or None."""
    usable = [s for s in within(past, now, window_s) if s.get("plan") == now.get("plan")]
    return min(usable, key=lambda s: s["at"]) if usable else None


def within(past: list[dict], now: dict, window_s: float) -> list[dict]:
    return [s for s in past if MIN_WINDOW_S <= now["at"] - s["at"] <= window_s]
