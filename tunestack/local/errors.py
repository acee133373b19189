"""How the local stack fails: an `up` that could not finish (exit 1), with the server's own words."""
from __future__ import annotations

from ..poll import wait_until as _wait_until


class LocalStackError(Exception):
    """`up` failed; the message is the server's own where there is one. Exit code 1."""


class ProgramGaveUp(LocalStackError):
    """A program supervisord could not keep running: waiting longer will not help."""


def wait_until(check, timeout: float, what: str, interval: float = 0.2):
    """The project's poller; a timeout is an `up` failure (exit 1), and so, at once, is a program
    that gave up."""
    return _wait_until(check, timeout, what, interval, error=LocalStackError, give_up_on=(ProgramGaveUp,))
