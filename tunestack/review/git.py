"""The two sides of a review, from git: a revision exported with `git archive` into a temporary
folder (the working tree is never checked out over), each stack planned and rendered there by that
revision's own CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from ..stackfile.load import stack_names
from .compare import StackSnapshot


def secure_values(node, path: str = "") -> dict[str, str]:
    """Every `secure:` value of a stack file's config, at any depth and under any key (a mistyped
    key included): compared between base and head, masked wherever it would be shown."""
    out: dict[str, str] = {}
    if isinstance(node, dict) and "secure" in node:
        out[path] = str(node["secure"])
    elif isinstance(node, dict):
        for key, value in node.items():
            out.update(secure_values(value, f"{path}.{key}" if path else str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.update(secure_values(value, f"{path}[{i}]"))
    return out


class ReviewError(Exception):
    """Git could not give a revision (unknown ref, not a repository). Exit code 2."""


def git(repo: Path, *args: str) -> str:
    res = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if res.returncode:
        raise ReviewError(f"git {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def export_revision(repo: Path, ref: str, into: Path) -> str:
    """The tree of `ref` in `into`, via git archive. Returns the short commit id."""
    commit = git(repo, "rev-parse", "--short", f"{ref}^{{commit}}").strip()
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=repo, capture_output=True)
    if archive.returncode:
        raise ReviewError(f"git archive {ref}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return commit


def snapshot_tree(tree: Path, python: str = sys.executable) -> dict[str, StackSnapshot]:
    stacks_dir = tree / "stacks"
    names = stack_names(stacks_dir) if stacks_dir.exists() else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNESTACK_")}
    env.update(PYTHONPATH=str(tree), TUNESTACK_STACKS_DIR=str(stacks_dir))

    def one(name: str) -> StackSnapshot:
        snap = StackSnapshot()
        try:
            doc = yaml.safe_load((stacks_dir / f"Pulumi.{name}.yaml").read_text()) or {}
        except yaml.YAMLError:
            doc = {}
        config = doc.get("config") if isinstance(doc, dict) else None
        snap.secrets = secure_values(config)
        snap.config = config if isinstance(config, dict) else {}
        res = subprocess.run([python, "-m", "tunestack", "plan", "--stack", name, "--format", "json"], cwd=tree,
                             env=env, capture_output=True, text=True)
        if res.stdout.strip().startswith("{"):
            snap.plan = json.loads(res.stdout)
        if res.returncode and snap.plan is None:
            snap.error = res.stderr.strip() or f"plan exited {res.returncode}"
        if snap.plan is not None:
            with tempfile.TemporaryDirectory() as tmp:
                r = subprocess.run([python, "-m", "tunestack", "render", "--stack", name, "--out", tmp], cwd=tree,
                                   env=env, capture_output=True, text=True)
                if r.returncode == 0:
                    snap.files = {p.name: p.read_text() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
        return snap

    # Each stack is planned and rendered by the revision's own CLI in its own processes: at once,
    # one per core (the time is interpreter start-up and planning, not I/O).
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        return dict(zip(names, pool.map(one, names)))


def find_repo(start: Path) -> Path:
    try:
        return Path(git(start, "rev-parse", "--show-toplevel").strip())
    except ReviewError:
        raise ReviewError(f"{start} is not inside a git repository") from None
