"""Budgets tie the layers together. Each is `used ≤ limit`, with the arithmetic spelled out."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    name: str
    used: float
    limit: float
    arithmetic: str   # how `used` and `limit` were reached, in words and numbers
    fix: str          # what to change when it does not hold
    unit: str = ""

    @property
    def ok(self) -> bool:
        return self.used <= self.limit

    @property
    def headroom(self) -> float:
        return self.limit - self.used

    def to_json(self) -> dict:
        return {"name": self.name, "used": self.used, "limit": self.limit, "headroom": self.headroom,
                "unit": self.unit, "ok": self.ok, "arithmetic": self.arithmetic, "fix": self.fix}
