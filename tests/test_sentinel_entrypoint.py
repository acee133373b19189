"""The Redis image's entrypoint for a Sentinel (images/redis/entrypoint.sh), run by /bin/sh with a
stand-in `setpriv` that ends where Sentinel would start. Sentinel rewrites its file with what it
learns (replicas, other Sentinels, epochs), so the entrypoint makes the file on the volume once and
keeps it. Only the monitoring user's line (redis_exporter's ACL user, tunestack:monitoring) follows
the secret file at every start: monitoring turned on, off, or its password changed after the
Sentinel first ran."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tunestack.paths import ROOT

ENTRYPOINT = ROOT / "images" / "redis" / "entrypoint.sh"
RENDERED = "port 26379\nsentinel monitor queue 10.0.0.1 6380 2\n"
LEARNED = "sentinel known-replica queue 10.0.0.2 6380\nsentinel current-epoch 3\n"
PASSWORDS = "requirepass s3cret\nsentinel auth-pass queue q\n"


def monitor(hash_: str) -> str:
    return f"user tunestack-monitor on #{hash_} -@all +ping +info\n"


@pytest.fixture
def start(tmp_path):
    """Run the entrypoint for a Sentinel with this secret file; return the file Sentinel would run."""
    bin_dir, data = tmp_path / "bin", tmp_path / "data"
    bin_dir.mkdir()
    (bin_dir / "setpriv").write_text("#!/bin/sh\nexit 0\n")   # where Sentinel itself would start
    (bin_dir / "setpriv").chmod(0o755)
    rendered = tmp_path / "sentinel.conf"
    rendered.write_text(RENDERED)

    def run(secrets: str) -> str:
        (tmp_path / "secrets.conf").write_text(secrets)
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TUNESTACK_DATA_DIR": str(data)}
        res = subprocess.run(["/bin/sh", str(ENTRYPOINT), "sentinel", str(rendered), str(tmp_path / "secrets.conf")],
                             env=env, capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        return (data / "sentinel.conf").read_text()
    return run, data


def test_the_first_start_makes_the_file_from_the_rendered_one_and_the_secrets(start):
    run, data = start
    assert run(PASSWORDS + monitor("aa")) == RENDERED + PASSWORDS + monitor("aa")
    assert oct((data / "sentinel.conf").stat().st_mode & 0o777) == "0o600"


def test_a_later_start_keeps_what_sentinel_learned_and_takes_the_new_monitoring_user(start):
    run, data = start
    run(PASSWORDS + monitor("aa"))
    with (data / "sentinel.conf").open("a") as f:   # what Sentinel wrote while it ran
        f.write(LEARNED)
    kept = run(PASSWORDS + monitor("bb"))
    assert LEARNED in kept and RENDERED in kept
    assert kept.count("user tunestack-monitor ") == 1 and monitor("bb") in kept


def test_monitoring_turned_on_later_reaches_a_running_sentinels_file(start):
    run, _ = start
    run(PASSWORDS)
    assert monitor("cc") in run(PASSWORDS + monitor("cc"))


def test_monitoring_turned_off_removes_the_user(start):
    run, _ = start
    run(PASSWORDS + monitor("aa"))
    assert "tunestack-monitor" not in run(PASSWORDS)
