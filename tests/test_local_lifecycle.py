"""What operators rely on around `up` and `down` (issue #24): a port someone else holds stops `up`
before anything starts, naming the holder; a second `up` with nothing new says "no changes";
`verify` of a stopped stack says so (exit 3) instead of passing checks against nothing; a stack
file elsewhere named like a stack of stacks/ is refused; `down --purge` deletes the state only
when told to."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tunestack.paths import ROOT
from tunestack.throwaway import ThrowawayStack

pytestmark = pytest.mark.servers
BASE = 18432   # its own ports: 18432-18437, the canary 18536


@pytest.fixture(scope="module")
def stack():
    s = ThrowawayStack("cycle", BASE, say=lambda m: None)   # not entered: `up` is part of the tests
    yield s
    s.__exit__(None, None, None)


def test_a_port_held_by_another_process_stops_up_before_anything_starts(stack):
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", BASE + 1))   # PgBouncer's
        held.listen()
        res = stack.cli("up")
    assert res.returncode == 3, res.stdout + res.stderr
    assert f"port {BASE + 1} (pgbouncer) is held by python" in res.stderr and f"pid {os.getpid()}" in res.stderr
    assert not (stack.dir / "run" / "supervisor.sock").exists(), "nothing was started"


def test_up_then_up_again_says_no_changes(stack):
    assert stack.cli("up").returncode == 0
    again = stack.cli("up")
    assert again.returncode == 0 and "[cycle] no changes" in again.stdout, again.stdout


def test_ports_held_by_the_stack_itself_are_no_obstacle(stack):
    assert stack.cli("up").returncode == 0


def test_verify_of_a_stopped_stack_says_so(stack):
    assert stack.cli("down").returncode == 0
    res = stack.cli("verify")
    assert res.returncode == 3 and "stack cycle is not running" in res.stderr
    assert "PASS" not in res.stdout


def test_down_purge_asks_and_deletes_only_when_told(stack):
    res = subprocess.run([sys.executable, "-m", "tunestack", "down", "--purge", "--stack", "cycle"], cwd=ROOT,
                         env=stack.env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert res.returncode == 2 and "add --yes" in res.stderr and stack.dir.exists()
    assert stack.cli("down").returncode == 0
    res = subprocess.run([sys.executable, "-m", "tunestack", "down", "--purge", "--yes", "--stack", "cycle"], cwd=ROOT,
                         env=stack.env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and not stack.dir.exists(), res.stdout + res.stderr


def test_a_copy_named_like_a_shared_stack_is_refused(tmp_path):
    copy = tmp_path / "Pulumi.local.yaml"
    copy.write_text((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    res = subprocess.run([sys.executable, "-m", "tunestack", "status", "--stack-file", str(copy)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "which stacks/ already has" in res.stderr and "Pulumi.local-copy.yaml" in res.stderr
