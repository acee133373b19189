"""Config review for pull requests: what every stack's hosts receive at base and at head, and why.

The base is exported with `git archive` into a temporary folder and planned with its own code and
stack files, through its own CLI, so the working tree is never checked out over. The head is the
working tree unless --head names a revision.
"""
from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .units import UnitError, pg_value_in_base_units, plural

SECRET_MASK = "••••••"


class ReviewError(Exception):
    """Git could not give a revision (unknown ref, not a repository). Exit code 2."""


@dataclass
class StackSnapshot:
    plan: dict | None = None      # `plan --format json`
    error: str | None = None      # validation error text when the stack file is rejected
    files: dict[str, str] = field(default_factory=dict)  # rendered files
    secrets: dict[str, str] = field(default_factory=dict)  # secret key → ciphertext (compared, never shown)


def _git(repo: Path, *args: str) -> str:
    res = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if res.returncode:
        raise ReviewError(f"git {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def export_revision(repo: Path, ref: str, into: Path) -> str:
    """The tree of `ref` in `into`, via git archive. Returns the short commit id."""
    commit = _git(repo, "rev-parse", "--short", f"{ref}^{{commit}}").strip()
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=repo, capture_output=True)
    if archive.returncode:
        raise ReviewError(f"git archive {ref}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return commit


def snapshot_tree(tree: Path, python: str = sys.executable) -> dict[str, StackSnapshot]:
    stacks_dir = tree / "stacks"
    names = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml")) \
        if stacks_dir.exists() else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNESTACK_")}
    env.update(PYTHONPATH=str(tree), TUNESTACK_STACKS_DIR=str(stacks_dir))

    def one(name: str) -> StackSnapshot:
        snap = StackSnapshot()
        doc = yaml.safe_load((stacks_dir / f"Pulumi.{name}.yaml").read_text()) or {}
        for key, value in (doc.get("config") or {}).items():
            if isinstance(value, dict) and "secure" in value:
                snap.secrets[key] = str(value["secure"])
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
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        return dict(zip(names, pool.map(one, names)))


# --- comparison ------------------------------------------------------------------------------------
def _text(setting: dict) -> str:
    """What the hosts receive. Plans written before settings carried `text` had only `value`."""
    return setting["text"] if "text" in setting else str(setting["value"])


def _shown(setting: dict) -> str:
    """What the hosts receive, with the human size beside a count of bytes (Redis' maxmemory)."""
    from .units import format_bytes_human

    text = _text(setting)
    if setting.get("unit") == "bytes" and text.isdigit() and int(text) >= 1024:
        return f"{text} ({format_bytes_human(int(text))})"
    return text


def _typed(setting: dict):
    """The typed value (bytes, ms, a count) where the plan has one; else the plain value."""
    return setting["value"]


def _number(value, typed: bool) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if typed:
        return None
    # A base revision from before typed settings: its values are PostgreSQL-style text.
    for unit in ("kB", "ms"):
        try:
            return pg_value_in_base_units(str(value), unit)
        except UnitError:
            continue
    return None


def change_amount(old, new, old_typed: bool = True, new_typed: bool = True) -> str:
    a, b = _number(old, old_typed), _number(new, new_typed)
    if a is None or b is None:
        return ""
    if a == 0:
        return "from 0" if b else ""
    pct = (b - a) / abs(a) * 100
    return f"{pct:+.0f}%"


@dataclass
class SettingChange:
    section: str
    name: str
    kind: str   # changed | added | removed | renamed
    old: object = None            # typed values, as the plans compute with them
    new: object = None
    old_reason: str = ""
    new_reason: str = ""
    renamed_from: str = ""
    old_text: str | None = None   # what the hosts receive, as shown to reviewers
    new_text: str | None = None
    old_typed: bool = True        # False for a base plan from before settings were typed

    @classmethod
    def of(cls, section: str, name: str, kind: str, old: dict | None, new: dict | None,
           renamed_from: str = "") -> "SettingChange":
        return cls(section, name, kind, old and _typed(old), new and _typed(new),
                   old["reason"] if old else "", new["reason"] if new else "", renamed_from,
                   _shown(old) if old else None, _shown(new) if new else None,
                   old is None or "text" in old)

    @property
    def amount(self) -> str:
        return change_amount(self.old, self.new, self.old_typed) if self.kind == "changed" else self.kind

    def to_json(self) -> dict:
        return {k: v for k, v in vars(self).items()
                if k != "old_typed" and (v not in ("", None) or k in ("old", "new"))}


@dataclass
class StackReview:
    stack: str
    status: str                   # new | removed | changed | unchanged | broken
    changes: list[SettingChange] = field(default_factory=list)
    budgets: list[dict] = field(default_factory=list)   # name, before, after (headroom), ok
    new_warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)     # head validation errors and broken budgets
    secrets: list[str] = field(default_factory=list)    # "tunestack:dbPassword changed"
    diff: str = ""

    @property
    def failing(self) -> bool:
        return bool(self.errors)


def _settings(plan: dict | None) -> dict[str, dict[str, dict]]:
    return (plan or {}).get("settings", {})


def compare_stack(name: str, base: StackSnapshot | None, head: StackSnapshot | None) -> StackReview:
    if head is None:
        return StackReview(name, "removed")
    review = StackReview(name, "new" if base is None else "unchanged")
    if head.error:
        review.status = "broken"
        review.errors.append(head.error)
    base_settings = _settings(base.plan if base else None)
    head_settings = _settings(head.plan)
    for section in list(dict.fromkeys([*base_settings, *head_settings])):
        old, new = base_settings.get(section, {}), head_settings.get(section, {})
        removed = [k for k in old if k not in new]
        added = [k for k in new if k not in old]
        for key in new:
            if key in old and _text(old[key]) != _text(new[key]):
                review.changes.append(SettingChange.of(section, key, "changed", old[key], new[key]))
        for key in list(added):  # a removed key with the same value: a rename
            twin = next((r for r in removed if _text(old[r]) == _text(new[key])), None)
            if twin is not None and base is not None:
                removed.remove(twin)
                added.remove(key)
                review.changes.append(SettingChange.of(section, key, "renamed", old[twin], new[key], twin))
        for key in added:
            review.changes.append(SettingChange.of(section, key, "added", None, new[key]))
        for key in removed:
            review.changes.append(SettingChange.of(section, key, "removed", old[key], None))
    before = {b["name"]: b for b in (base.plan or {}).get("budgets", [])} if base else {}
    for b in (head.plan or {}).get("budgets", []):
        prev = before.get(b["name"])
        review.budgets.append({"name": b["name"], "unit": b.get("unit", ""),
                               "before": prev["headroom"] if prev else None, "after": b["headroom"], "ok": b["ok"],
                               "used_before": prev["used"] if prev else None, "used_after": b["used"]})
        if not b["ok"]:
            review.errors.append(f"budget broken: {b['name']}: {b['arithmetic']}; fix: {b['fix']}")
    old_warnings = set((base.plan or {}).get("warnings", [])) if base else set()
    review.new_warnings = [w for w in (head.plan or {}).get("warnings", []) if w not in old_warnings]
    base_secrets = base.secrets if base else {}
    for key in sorted(set(base_secrets) | set(head.secrets)):
        if key not in base_secrets:
            review.secrets.append(f"{key} added (value {SECRET_MASK})")
        elif key not in head.secrets:
            review.secrets.append(f"{key} removed")
        elif base_secrets[key] != head.secrets[key]:
            review.secrets.append(f"{key} changed (value {SECRET_MASK})")
    diffs = []
    old_files = base.files if base else {}
    for fname in sorted(set(old_files) | set(head.files)):
        a, b = old_files.get(fname, ""), head.files.get(fname, "")
        if a != b:
            diffs.extend(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                              f"base/{name}/{fname}", f"head/{name}/{fname}"))
    review.diff = mask_known("".join(diffs), [*base_secrets.values(), *head.secrets.values()])
    if review.status == "unchanged" and (review.changes or review.secrets or review.diff or review.new_warnings):
        review.status = "changed"
    return review


def mask_known(text: str, secrets) -> str:
    """Belt and braces: rendered files hold no secrets, but any value the stack files keep as a
    secret (base or head) is masked wherever it appears. Only those: prose about passwords stays."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, SECRET_MASK)
    return text


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


# --- output ------------------------------------------------------------------------------------------
def _cell(value) -> str:
    text = "—" if value is None else (f"`{value}`" if str(value) != "" else '`""`')
    return text.replace("|", "\\|")


GITHUB_COMMENT_LIMIT = 65_536   # characters GitHub accepts in one comment
COMMENT_BUDGET = 60_000         # what the comment may use: room for the workflow's footer
NEAR_LIMIT = 0.10               # a budget with less than 10 % of its limit left is near it


def near_limit(budget: dict) -> bool:
    used, headroom = budget.get("used_after"), budget.get("after")
    if not isinstance(used, (int, float)) or not isinstance(headroom, (int, float)):
        return False
    limit = used + headroom
    return limit > 0 and headroom / limit < NEAR_LIMIT


def _summary(meta: dict, reviews: list[StackReview]) -> list[str]:
    lines = ["<!-- tunestack-review -->", f"## tunestack config review: {meta['base']} → {meta['head']}", ""]
    failing = [r.stack for r in reviews if r.failing]
    lines.append(f"**✗ Blocking:** {', '.join(failing)}: see below." if failing
                 else "**✓ Every stack validates and every budget holds at head.**")
    lines += ["", "| stack | status | settings changed | budgets near their limit |", "| --- | --- | --- | --- |"]
    for r in reviews:
        near = [b["name"] for b in r.budgets if near_limit(b) or not b["ok"]]
        lines.append(f"| {r.stack} | {r.status} | {len(r.changes)} | "
                     f"{'; '.join(n.replace('|', '/') for n in near) or '—'} |")
    return lines


def _details(r: StackReview, with_diff: bool, max_changes: int | None) -> list[str]:
    """One stack's section: collapsed, unless it blocks the merge; one line when nothing changed."""
    if r.status == "unchanged" and not r.errors:
        return ["", f"**{r.stack}**: unchanged, no setting changes."]
    open_ = " open" if r.failing else ""
    lines = ["", f"<details{open_}><summary><b>{r.stack}</b>: {r.status}, {plural(len(r.changes), 'setting')} changed"
                 "</summary>", ""]
    if r.status == "removed":
        return lines + ["The stack file was removed.", "", "</details>"]
    for e in r.errors:
        lines.append("```\n" + e + "\n```")
    shown = r.changes if max_changes is None else r.changes[:max_changes]
    if shown:
        lines += ["| where | setting | base | head | change | why (head) | why (base) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for c in shown:
            name = f"{c.renamed_from} → {c.name}" if c.kind == "renamed" else c.name
            lines.append(f"| {c.section} | {name} | {_cell(c.old_text)} | {_cell(c.new_text)} | {c.amount} | "
                         f"{c.new_reason.replace('|', '/')} | {c.old_reason.replace('|', '/')} |")
    if len(shown) < len(r.changes):
        lines.append(f"\n… and {len(r.changes) - len(shown)} more: see the full review.")
    if not r.changes and r.status != "broken":
        lines.append("No setting changes.")
    if r.secrets:
        lines += ["", "Secrets: " + "; ".join(r.secrets)]
    if r.budgets:
        lines += ["", "| budget | headroom before | headroom after | |", "| --- | --- | --- | --- |"]
        for b in r.budgets:
            state = "**broken**" if not b["ok"] else "near its limit" if near_limit(b) else "ok"
            lines.append(f"| {b['name']} | {_fmt_headroom(b['before'], b['unit'])} | "
                         f"{_fmt_headroom(b['after'], b['unit'])} | {state} |")
    if r.new_warnings:
        lines += ["", "New warnings:"] + [f"- {w}" for w in r.new_warnings]
    if r.diff and with_diff:
        lines += ["", "<details><summary>rendered files diff</summary>", "", "```diff", r.diff.rstrip(), "```",
                  "", "</details>"]
    elif r.diff:
        lines += ["", f"Rendered files changed ({r.diff.count(chr(10))} diff lines): see the full review."]
    return lines + ["", "</details>"]


def to_markdown(meta: dict, reviews: list[StackReview], limit: int | None = COMMENT_BUDGET) -> str:
    """The review as a pull request comment: the summary first, each stack collapsed below it. Under
    `limit` characters: rendered diffs go first, then the longest tables are cut, each cut saying
    where the rest is (the full review: to_markdown(..., limit=None))."""
    head = _summary(meta, reviews)
    for with_diff, max_changes in ((True, None), (False, None), (False, 40), (False, 10), (False, 0)):
        text = "\n".join(head + [line for r in reviews for line in _details(r, with_diff, max_changes)]) + "\n"
        if limit is None or len(text) <= limit:
            return text
    cut = "\n\n… cut to fit a comment: see the full review.\n"
    return text[:limit - len(cut)] + cut


def _fmt_headroom(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "bytes":
        from .units import format_bytes_human
        return ("-" if value < 0 else "") + format_bytes_human(abs(int(value)))
    return f"{value:g}" if isinstance(value, float) else str(value)


def to_json(meta: dict, reviews: list[StackReview]) -> str:
    return json.dumps({**meta, "stacks": [
        {"stack": r.stack, "status": r.status, "failing": r.failing, "errors": r.errors,
         "changes": [c.to_json() for c in r.changes], "budgets": r.budgets, "new_warnings": r.new_warnings,
         "secrets": r.secrets, "diff": r.diff} for r in reviews]}, indent=2, default=str)


def find_repo(start: Path) -> Path:
    try:
        return Path(_git(start, "rev-parse", "--show-toplevel").strip())
    except ReviewError:
        raise ReviewError(f"{start} is not inside a git repository") from None


__all__ = ["review", "to_markdown", "to_json", "find_repo", "ReviewError", "mask_known"]
