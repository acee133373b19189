"""Rollouts on the local stack with real processes and a real HAProxy (issue 6), the gates measured
by the stack's own Prometheus (issue #29: every second, from the apps' counter and histogram per
track). The README's examples run on a stack without monitoring: HAProxy's log measures them."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tunestack.loadgen import Load as _Load
from tunestack.throwaway import ThrowawayStack
from tunestack.paths import ROOT

pytestmark = pytest.mark.servers
STACK = "rollouts"
BASE = 29432  # below the ephemeral port range


@pytest.fixture(scope="module")
def env():
    def gates(c):
        c["tunestack:rollout"]["gates"] = {"max_error_rate": 0.01, "max_p95_ms": 200, "min_requests": 15}
        c["tunestack:monitoring"]["scrape_interval"] = "1s"
    with ThrowawayStack(STACK, BASE, gates, say=lambda m: None, monitoring=True) as stack:
        yield stack.env


def Load(**kw):
    return _Load(f"http://127.0.0.1:{BASE + 5}/", **kw)


def rollout(env, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "tunestack", "rollout", *args, "--stack", STACK], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def version(env):
    with urllib.request.urlopen(f"http://127.0.0.1:{BASE + 5}/version", timeout=5) as r:
        import json
        return json.loads(r.read())["version"]


def test_healthy_version_reaches_100_and_becomes_stable(env):
    with Load():
        res = rollout(env, "--version", "v2", "--steps", "10,50,100", "--bake", "5s")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "step 1/3: 10%" in res.stdout and "step 3/3: 100%" in res.stdout and "v2 is stable" in res.stdout
    assert "baking 10%" in res.stdout  # progress while baking
    assert version(env) == "v2"
    assert "v2: promoted" in rollout(env, "status").stdout


def test_faulty_version_stopped_at_10_percent_and_only_its_share_failed(env):
    with Load() as load:
        res = rollout(env, "--version", "v3-bad", "--env", "APP_FAULT_RATE=0.5", "--steps", "10,25,50,100",
                      "--bake", "6s")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "gate error rate" in res.stdout and "FAIL" in res.stdout
    assert "rolling back" in res.stdout and "at 10%" in res.stdout
    # the gate says which query it ran, and what came back
    said = " ".join(res.stdout.split())   # as read, however the terminal's width wrapped it
    assert 'sum (tunestack_http_requests_total{track="canary",code="5xx"}) - (' in said
    failed = [r for r in load.results if r[0] >= 500]
    assert failed and all(track == "canary" for _, track in failed), "only the canary answered 500"
    share = len(failed) / len(load.results)
    assert 0 < share < 0.15, f"{share:.1%} of all requests failed; ~5% expected (10% × 50%)"
    assert version(env) == "v2"  # traffic back on stable


def test_slow_version_fails_the_p95_gate(env):
    with Load():
        res = rollout(env, "--version", "v4-slow", "--env", "APP_EXTRA_LATENCY_MS=400", "--steps", "25,100",
                      "--bake", "5s")
    assert res.returncode == 1
    gate = next(line for line in res.stdout.splitlines() if "gate p95 latency" in line)
    assert "FAIL" in gate and "needs < 200 ms" in gate


def test_killed_rollout_resumes_at_the_same_step(env):
    with Load():
        proc = subprocess.Popen([sys.executable, "-m", "tunestack", "rollout", "--version", "v5", "--steps",
                                 "10,50,100", "--bake", "5s", "--stack", STACK], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, text=True)
        seen = []
        for line in proc.stdout:  # bounded: the rollout itself ends within a minute
            seen.append(line)
            if line.startswith("step 2/3"):
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        res = rollout(env, "--version", "v5", "--steps", "10,50,100", "--bake", "5s")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("resuming v5 at step 2/3 (50%)")
    assert "step 1/3" not in res.stdout
    assert version(env) == "v5"


def test_idle_stack_is_told_to_send_load(env):
    """Issue #12: nobody calls the stack, so the canary proves nothing; the rollout says so plainly
    and names the --load that would give the gates their minimum."""
    res = rollout(env, "--version", "v6-idle", "--steps", "50,100", "--bake", "3s")
    assert res.returncode == 1
    said = " ".join(res.stdout.split())   # as read, however the terminal's width wrapped it
    assert "is anyone using this stack?" in said and "--load 10" in said   # 15 / (3 s × 50 %)
    assert version(env) == "v5"


def test_built_in_load_promotes_a_healthy_version_on_an_idle_stack(env):
    res = rollout(env, "--version", "v7", "--steps", "50,100", "--bake", "3s", "--load", "20")
    assert res.returncode == 0, res.stdout + res.stderr
    gate = next(line for line in res.stdout.splitlines() if "gate min requests" in line)
    assert int(gate.split("measured ")[1].split()[0].rstrip(",")) >= 15, gate   # the rollout's own load
    assert version(env) == "v7"


def test_built_in_load_rolls_back_a_faulty_version_on_an_idle_stack(env):
    res = rollout(env, "--version", "v8-bad", "--env", "APP_FAULT_RATE=0.5", "--steps", "50,100", "--bake", "3s",
                  "--load", "20")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "rolling back" in res.stdout and "error rate" in res.stdout
    assert version(env) == "v7"


@pytest.mark.parametrize("args,message", [
    (["--version", "v9", "--load", "0"], "requests per second"),
    (["--version", "v9", "--steps", "50,25,100"], "rise"),
    (["--version", "v9", "--steps", "10,150"], "between 1 and 100"),
    (["promote", "--version", "nope"], "no rollout in progress"),
    # issue #25: a canary's env may not set what the plan computes, nor what runs or where it connects
    (["--version", "v9", "--env", "DB_POOL=50"], "the plan sets it for both tracks"),
    (["--version", "v9", "--env", "LD_PRELOAD=/tmp/x.so"], "not a variable a canary may change"),
])
def test_bad_input(env, args, message):
    res = rollout(env, *args)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_unknown_stack(env):
    res = subprocess.run([sys.executable, "-m", "tunestack", "rollout", "--version", "v1", "--stack", "nope"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert res.returncode == 2 and "unknown stack 'nope'" in res.stderr


README_BASE = 16432   # the README example's own scratch stack, with the local stack's own gates


def readme_rollout_lines() -> list[tuple[list[str], str]]:
    """The README's rollout example block, as written: each command's words and its comment."""
    import re
    import shlex

    text = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "--load   # promotes" in b)
    return [(shlex.split(line.split("#")[0]), line.split("#", 1)[1].strip()) for line in block.strip().splitlines()]


def test_the_readme_rollout_examples_do_what_they_say():
    """Issue #24: the README's own example (`--bake 5s --load 40`) rolled back under the local
    stack's gates. Run as written (only the stack's name is the scratch copy's): the healthy version
    is promoted, the faulty one rolled back."""
    lines = readme_rollout_lines()
    assert [said for _, said in lines] == ["promotes a healthy version", "rolled back"]
    # stacks/Pulumi.local.yaml's gates and monitoring (its Prometheus measures the canary every 5 s)
    with ThrowawayStack("readmeroll", README_BASE, say=lambda m: None, monitoring=True) as stack:
        for words, said in lines:
            assert words[:2] == ["tunestack", "rollout"] and words[words.index("--stack") + 1] == "local"
            words[words.index("--stack") + 1] = stack.name
            res = subprocess.run([sys.executable, "-m", *words], cwd=ROOT, env=stack.env, capture_output=True,
                                 text=True, timeout=300)
            if said == "rolled back":
                assert res.returncode == 1 and "rolling back" in res.stdout, res.stdout + res.stderr
            else:
                assert res.returncode == 0 and "v2 is stable" in res.stdout, res.stdout + res.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{README_BASE + 5}/version", timeout=5) as r:
            import json
            assert json.loads(r.read())["version"] == "v2"
