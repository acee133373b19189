"""One change at a time per stack: `up`, `down` and `rollout` hold an exclusive lock on the stack's
state folder. A second one waits (bounded) and says who holds the lock, then gives up with exit 3."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path

from .poll import poll


class LockHeld(Exception):
    """Another command holds the stack. Exit code 3: an environment problem, not bad input."""


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another command"
    return f"`{info.get('command', '?')}` (pid {info.get('pid', '?')}, since {info.get('since', '?')})"


@contextlib.contextmanager
def stack_lock(path: Path, command: str, wait_s: float = 120, say=print):
    """Hold `path` exclusively for `command`; wait up to `wait_s` seconds for another holder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:   # a home that does not exist, a folder another user owns
        from .errors import EnvironmentProblem

        raise EnvironmentProblem(f"cannot make the state folder {path.parent}: {exc.strerror}. Run as root, or give "
                                 "this user a folder of its own: --state-dir DIR (or TUNESTACK_STATE_DIR / "
                                 "XDG_STATE_HOME)") from None

    def acquire() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    try:
        if not acquire():
            say(f"waiting up to {wait_s:.0f}s: the stack is held by {_holder(fd)}")
            if not poll(acquire, wait_s, 0.2):
                raise LockHeld(f"the stack is held by {_holder(fd)}; try again when it has finished "
                               f"(lock: {path})")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps({"command": command, "pid": os.getpid(),
                                 "since": time.strftime("%H:%M:%S")}).encode())
        yield
    finally:
        os.close(fd)   # closing the descriptor releases the lock
