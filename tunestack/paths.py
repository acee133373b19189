"""Every folder tunestack reads or writes, in one place.

tunestack runs from its checkout (`pip install -e .`): the stack files, templates and host checks
are the project's own files, beside the package. Nothing here writes into that tree; the local
stack keeps its state outside it.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent          # the checkout: Pulumi.yaml lives here
TEMPLATES = ROOT / "configs"
RENDERED = ROOT / "rendered"                            # committed output of `render --all`
VERIFY = ROOT / "verify"                                # the testinfra suite
PROGRAM = ROOT / "__main__.py"                          # the Pulumi program


def stacks_dir() -> Path:
    """stacks/ of the checkout, unless TUNESTACK_STACKS_DIR points elsewhere (tests, review)."""
    return Path(os.environ.get("TUNESTACK_STACKS_DIR", ROOT / "stacks"))


def state_root() -> Path:
    """Where local stacks keep data, secrets, sockets and logs: never inside the checkout.

    TUNESTACK_STATE_DIR wins; root uses /var/lib/tunestack (a service user must reach it, and a
    home folder is private); anyone else uses $XDG_STATE_HOME/tunestack."""
    if os.environ.get("TUNESTACK_STATE_DIR"):
        return Path(os.environ["TUNESTACK_STATE_DIR"])
    if os.geteuid() == 0:
        return Path("/var/lib/tunestack")
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "tunestack"

# In a container: the files delivered while its server runs (components/_live.py), on a volume of
# their own, and read by the server from there.
LIVE_DIR = "/etc/tunestack/live"
