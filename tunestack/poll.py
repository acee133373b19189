"""The one bounded poller: wait for a condition, never sleep blindly. tenacity does the retrying."""
from __future__ import annotations

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed


class NotReady(Exception):
    """The condition did not hold before the deadline."""


def poll(check, timeout: float, interval: float = 0.2, give_up_on: tuple[type[BaseException], ...] = ()):
    """Call `check` until it returns a truthy value or `timeout` seconds pass; return its last value.
    An exception from `check` counts as "not yet" and is kept for the caller's message, except one of
    `give_up_on`: that one ends the wait at once (a server that gave up will not come back)."""
    last: dict = {"error": None}

    def attempt():
        try:
            value, last["error"] = check(), None
        except give_up_on:
            raise
        except Exception as exc:  # not ready yet
            value, last["error"] = None, exc
        return value

    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval), retry=retry_if_result(lambda v: not v),
                        retry_error_callback=lambda state: state.outcome.result(), reraise=True)
    value = retrying(attempt)
    poll.last_error = last["error"]
    return value


def wait_until(check, timeout: float, what: str, interval: float = 0.2, error=NotReady,
               give_up_on: tuple[type[BaseException], ...] = ()):
    """`poll`, raising `error` with what was awaited and the last failure when time runs out."""
    value = poll(check, timeout, interval, give_up_on=give_up_on)
    if not value:
        raise error(f"{what}: not ready after {timeout:.0f}s ({poll.last_error})")
    return value
