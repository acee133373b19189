"""What moves traffic in a rollout. An engine is built from plain values (tests make one without
planning a stack); `for_stack` builds it from a stack's plan."""
from __future__ import annotations

from typing import Protocol

from ..gates import Metrics


class Engine(Protocol):
    def start_canary(self, version: str, env: dict[str, str]) -> None: ...
    def set_weight(self, weight: int) -> str: ...          # returns what was set, for the log
    def mark(self) -> object: ...                          # a point in the measurement stream
    def measure(self, since: object) -> Metrics: ...       # the canary's traffic since `mark`
    def verify_canary(self, version: str) -> tuple[bool, str]: ...
    def promote(self, version: str, env: dict[str, str]) -> None: ...
    def rollback(self) -> None: ...
