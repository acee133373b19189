"""Config review for pull requests: what every stack's hosts receive at base and at head, and why.

git.py exports the base (and a --head revision) with `git archive` and plans each stack with that
revision's own code; compare.py compares two snapshots of a stack (pure); markdown.py writes the
comment and the JSON."""
from __future__ import annotations

import tempfile
from pathlib import Path

from .compare import SECRET_MASK, SettingChange, StackReview, StackSnapshot, change_amount, compare_stack, mask_known
from .git import ReviewError, export_revision, find_repo, snapshot_tree
from .markdown import COMMENT_BUDGET, GITHUB_COMMENT_LIMIT, to_json, to_markdown


def review(repo: Path, base_ref: str, head_ref: str | None = None) -> tuple[dict, list[StackReview]]:
    with tempfile.TemporaryDirectory(prefix="tunestack-review-") as tmp:
        base_dir = Path(tmp) / "base"
        base_dir.mkdir()
        base_commit = export_revision(repo, base_ref, base_dir)
        if head_ref:
            head_dir = Path(tmp) / "head"
            head_dir.mkdir()
            head_label = export_revision(repo, head_ref, head_dir)
        else:
            head_dir, head_label = repo, "working tree"
        base = snapshot_tree(base_dir)
        head = snapshot_tree(head_dir)
    reviews = [compare_stack(n, base.get(n), head.get(n)) for n in sorted(set(base) | set(head))]
    meta = {"base": f"{base_ref} ({base_commit})", "head": head_label if not head_ref else f"{head_ref} ({head_label})"}
    return meta, reviews


__all__ = ["COMMENT_BUDGET", "GITHUB_COMMENT_LIMIT", "ReviewError", "SECRET_MASK", "SettingChange", "StackReview",
           "StackSnapshot", "change_amount", "compare_stack", "find_repo", "mask_known", "review", "to_json",
           "to_markdown"]
