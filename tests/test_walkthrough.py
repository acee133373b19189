"""The README's walkthrough from zero to `pulumi up` (issue #25): every `tunestack` command in it is
one the CLI accepts as written, and those that need no Pulumi CLI and no host run here and succeed."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from tunestack.cli import build_parser
from tunestack.paths import ROOT

OFFLINE = {"plan", "preview"}   # and verify --collect-only


def walkthrough() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### From zero to `pulumi up`"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith("tunestack ")]


def test_the_walkthrough_names_each_step():
    commands = [w[1] for w in walkthrough()]
    for step in ("plan", "preview", "verify", "images", "review", "rollout"):
        assert step in commands


@pytest.mark.parametrize("words", walkthrough(), ids=lambda w: " ".join(w[1:3]))
def test_each_tunestack_command_is_accepted_as_written(words):
    args = build_parser().parse_args(words[1:])
    assert callable(args.func)


@pytest.mark.parametrize("words", [w for w in walkthrough() if w[1] in OFFLINE or "--collect-only" in w],
                         ids=lambda w: " ".join(w[1:3]))
def test_the_offline_steps_run_here(words):
    res = subprocess.run([sys.executable, "-m", "tunestack", *words[1:]], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
