"""The one bounded poller: wait for a condition, never sleep blindly."""
from __future__ import annotations

import time


class NotReady(Exception):
    """The condition did not hold before the deadline."""


def poll(check, timeout: float, interval: float = 0.2):
    """Call `check` until it returns a truthy value or `timeout` seconds pass; return its last value.
    An exception from `check` counts as "not yet" and is kept for the caller's message."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value, error = check(), None
        except Exception as exc:  # not ready yet
            value, error = None, exc
        if value or time.monotonic() >= deadline:
            poll.last_error = error
            return value
        time.sleep(interval)


def wait_until(check, timeout: float, what: str, interval: float = 0.2, error=NotReady):
    """`poll`, raising `error` with what was awaited and the last failure when time runs out."""
    value = poll(check, timeout, interval)
    if not value:
        raise error(f"{what}: not ready after {timeout:.0f}s ({poll.last_error})")
    return value
