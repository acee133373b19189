"""Every benchmark in its smoke mode (issue #24): short and small, run the way a user runs it
(`tunestack bench --only NAME --smoke -j`, from a folder outside the checkout), so a benchmark that
breaks fails the tests instead of rotting. They measure nothing here; bench/ reports the numbers."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.run import BENCHMARKS

MARKS = {"rollout": [pytest.mark.multihost], "rails": [pytest.mark.servers]}


@pytest.mark.parametrize("name", [pytest.param(n, marks=MARKS.get(n, [pytest.mark.servers])) for n in BENCHMARKS])
def test_the_benchmark_still_runs(name, tmp_path, request):
    env = dict(os.environ)
    if name == "rollout":   # the session's engine has the images: the smoke run copies them, builds none
        env["TUNESTACK_BENCH_ENGINE"] = request.getfixturevalue("engine").url
    res = subprocess.run([sys.executable, "-m", "tunestack", "bench", "--only", name, "--smoke", "-j"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=1500, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert name in json.loads(res.stdout)
