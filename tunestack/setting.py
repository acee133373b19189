"""The unit of a plan: a value, the reason for it, and where it came from."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    value: object            # exactly what the server or process receives
    reason: str
    source: str = "computed"  # computed | override | fixed (a policy, not arithmetic)

    def to_json(self) -> dict:
        return {"value": self.value, "reason": self.reason, "source": self.source}


def fixed(value: object, reason: str) -> Setting:
    return Setting(value, reason, "fixed")
