"""The controller overhead of a Docker rollout on the test bed (issue #12), side by side: a step as
HAProxy weights at run time over SSH (DockerEngine) against a step as a program apply (what a
rollout that runs `pulumi up` per step costs, here the replay of it), and the time from a failed
gate to the canary at weight 0. Bake time is excluded. Needs root (it builds the test bed and a
private Docker engine, and the images).

The measurement itself is tests/multihost/rollout_bench.py: the replay of the Pulumi engine and the
test bed live in tests/ only, so this benchmark runs that module in the checkout, in a process of
its own, and reads its JSON. It works from any folder the command is started in."""
from __future__ import annotations

import json
import subprocess
import sys

from tunestack.paths import ROOT

MODULE = "tests.multihost.rollout_bench"


def measure(say=print, rounds: int = 5) -> dict:
    if not (ROOT / "tests" / "multihost" / "rollout_bench.py").exists():
        raise RuntimeError(f"the rollout benchmark runs {MODULE} from the checkout: not found under {ROOT}")
    say(f"  running {MODULE} in {ROOT} …")
    res = subprocess.run([sys.executable, "-m", MODULE, str(rounds)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if res.returncode:
        raise RuntimeError(f"the rollout benchmark failed (exit {res.returncode}); its progress is above")
    return json.loads(res.stdout)
