"""The container path's stanza command (components/backup.py BACKUP_STANZA) run by /bin/sh with a
stand-in `docker` on PATH that answers like pgBackRest: exit 50 is pgBackRest's LockAcquireError,
which a primary's archive-push causes while it holds the stanza's lock (seen in CI: the HA bed's
`ha-backup-repo-stanza` failed with "unable to acquire lock ... ha-archive.lock")."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.backup import BACKUP_STANZA

# Each stanza-create call takes the next exit code from $ANSWERS (a file, one per line); `info`
# says a backup is there, so the command ends without a backup.
FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "$CALLS"
case "$*" in
  *stanza-create*) code=$(head -n1 "$ANSWERS"); sed -i 1d "$ANSWERS"; exit "${code:-0}" ;;
  *info*) echo '[{"backup":[{"label":"20261207-000000F"}]}]' ;;
esac
"""


def run_stanza(tmp_path: Path, answers: list[int]) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    (tmp_path / "answers").write_text("".join(f"{a}\n" for a in answers))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls"),
           "ANSWERS": str(tmp_path / "answers"), "CONTAINER": "ha-backup-repo", "STANZA": "ha"}
    proc = subprocess.run(["/bin/sh", "-c", BACKUP_STANZA], env=env, capture_output=True, text=True, timeout=30)
    calls = (tmp_path / "calls").read_text().splitlines()
    return proc, [c for c in calls if "stanza-create" in c]


def test_a_held_lock_is_waited_for_and_the_command_goes_on(tmp_path):
    proc, creates = run_stanza(tmp_path, [50, 50, 0])
    assert proc.returncode == 0, proc.stderr
    assert len(creates) == 3
    assert "a backup is there" in proc.stdout


def test_a_refused_database_connection_is_tried_again_and_each_retry_said(tmp_path):
    # exit 56, DbConnectError (pgBackRest's error.yaml): both multihost beds once failed on it in a full CI run
    proc, creates = run_stanza(tmp_path, [56, 0])
    assert proc.returncode == 0, proc.stderr
    assert len(creates) == 2
    assert "stanza-create: exit 56, again in 1 s" in proc.stderr


@pytest.mark.parametrize("code", [1, 28, 55])
def test_any_other_failure_ends_it_at_once_with_pgbackrests_code(tmp_path, code):
    proc, creates = run_stanza(tmp_path, [code, 0])
    assert proc.returncode == code
    assert len(creates) == 1
