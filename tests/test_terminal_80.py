"""Reports at 80 columns, as a person sees them (issue #24): each command runs in a real terminal
(tmux, 80 columns wide) and no line of what it printed is longer, once the terminal's own wrapping
is undone (capture-pane -J). plan and postgres need no stack; verify, advise and a rollout run on a
throwaway local stack."""
from __future__ import annotations

import shlex
import subprocess
import sys
import time
import uuid

import pytest

from tunestack.paths import ROOT
from tunestack.poll import poll

DONE = "__tunestack_done__"


def at_80_columns(command: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> list[str]:
    """The lines `command` printed in an 80-column terminal, each as long as it really is."""
    session = f"ts80-{uuid.uuid4().hex[:8]}"
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    # The command is the session's own program (nothing typed, so nothing echoed); it waits after
    # printing DONE so that the pane can still be read.
    script = f"cd {shlex.quote(str(ROOT))} && {exports} {shlex.join(command)} 2>&1; echo {DONE}; sleep 600"
    # history-limit applies to panes made after it is set: set it first, in the same tmux call.
    subprocess.run(["tmux", "start-server", ";", "set-option", "-g", "history-limit", "20000", ";",
                    "new-session", "-d", "-s", session, "-x", "80", "-y", "50", "bash", "-c", script], check=True)
    try:

        def captured():
            out = subprocess.run(["tmux", "capture-pane", "-p", "-J", "-S", "-20000", "-t", session],
                                 capture_output=True, text=True).stdout
            return out if DONE in out else None
        out = poll(captured, timeout=timeout, interval=0.5)
        assert out, f"{command} did not finish in {timeout:g} s"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    return [ln.rstrip() for ln in out.split(DONE)[0].splitlines()]


def too_long(lines: list[str]) -> list[str]:
    return [ln for ln in lines if len(ln) > 80]


TUNESTACK = [sys.executable, "-m", "tunestack"]


@pytest.mark.parametrize("args", [["plan", "-s", "prod"], ["plan", "-s", "local-rails"],
                                  ["postgres", "--memory", "16GB", "--cpus", "4"]])
def test_reports_that_need_no_stack_fit_80_columns(args):
    lines = at_80_columns(TUNESTACK + args)
    assert len(lines) > 10 and not too_long(lines), too_long(lines)[:3]


@pytest.mark.servers
def test_verify_advise_and_a_rollout_fit_80_columns():
    from tunestack.throwaway import ThrowawayStack

    with ThrowawayStack("narrow", 14432, say=lambda m: None) as stack:
        env = {"TUNESTACK_STACKS_DIR": stack.env["TUNESTACK_STACKS_DIR"],
               "TUNESTACK_STATE_DIR": stack.env["TUNESTACK_STATE_DIR"]}
        first = at_80_columns(TUNESTACK + ["advise", "-s", "narrow"], env)   # stores a sample, says so
        assert not too_long(first), too_long(first)
        time.sleep(16)   # advise compares samples at least 15 s apart (advise/rules.py MIN_WINDOW_S)
        for args in (["verify", "-s", "narrow"], ["advise", "-s", "narrow"],
                     ["rollout", "-s", "narrow", "--version", "v2", "--steps", "50,100", "--bake", "2s", "--load"]):
            lines = at_80_columns(TUNESTACK + args, env)
            assert len(lines) > 2 and not too_long(lines), (args, too_long(lines)[:3])
