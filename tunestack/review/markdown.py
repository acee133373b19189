"""The review as a pull request comment (Markdown, under GitHub's limit) and as JSON."""
from __future__ import annotations

import json

from ..units import format_bytes_human, plural
from .compare import StackReview, near_limit
from .escape import block, code, inline
from .impact import risky_decrease

FOLD_REASON = 160   # characters of a reason the comment shows; the full review has all of it


GITHUB_COMMENT_LIMIT = 65_536   # characters GitHub accepts in one comment
COMMENT_BUDGET = 60_000         # what the comment may use: room for the workflow's footer


def _cell(value) -> str:
    return "—" if value is None else code(value)


def _summary(meta: dict, reviews: list[StackReview]) -> list[str]:
    # Everything that comes from the pull request (names, refs, values, reasons, errors) is escaped.
    lines = ["<!-- tunestack-review -->", f"## tunestack config review: {inline(meta['base'])} → {inline(meta['head'])}",
             ""]
    failing = [inline(r.stack) for r in reviews if r.failing]
    lines.append(f"**✗ Blocking:** {', '.join(failing)}: see below." if failing
                 else "**✓ Every stack validates and every budget holds at head.**")
    lines += ["", "| stack | status | settings changed | budgets near their limit |", "| --- | --- | --- | --- |"]
    for r in reviews:
        near = [b["name"] for b in r.budgets if not b["ok"] or near_limit(b) and moved_closer(b)]
        lines.append(f"| {inline(r.stack)} | {r.status} | {len(r.changes)} | "
                     f"{'; '.join(inline(n) for n in near) or '—'} |")
    shaped = [r for r in reviews if r.shape]
    if shaped:   # what a reviewer reads first: the stack files' own changes
        lines += ["", "**Stack files:**"] + [f"- {inline(r.stack)}: " + "; ".join(inline(c) for c in r.shape)
                                             for r in shaped]
    restarting = [r for r in reviews if r.restarts]
    if restarting:
        lines += ["", "**What restarts:**"] + [f"- {inline(r.stack)}: " + "; ".join(inline(c) for c in r.restarts)
                                               for r in restarting]
    return lines


def moved_closer(budget: dict) -> bool:
    """A budget whose headroom shrank (or is new): near its limit is news only then."""
    before, after = budget.get("before"), budget.get("after")
    return before is None or not isinstance(after, (int, float)) or after < before


def _reason(text: str, fold: bool) -> str:
    return inline(text if not fold or len(text) <= FOLD_REASON else text[:FOLD_REASON - 1] + "…")


def _details(r: StackReview, with_diff: bool, max_changes: int | None, fold: bool = True) -> list[str]:
    """One stack's section: collapsed, unless it blocks the merge; one line when nothing changed."""
    if r.status == "unchanged" and not r.errors:
        return ["", f"**{inline(r.stack)}**: unchanged, no setting changes."]
    open_ = " open" if r.failing else ""
    lines = ["", f"<details{open_}><summary><b>{inline(r.stack)}</b>: {r.status}, {plural(len(r.changes), 'setting')} changed"
                 "</summary>", ""]
    if r.status == "removed":
        return lines + ["The stack file was removed.", "", "</details>"]
    for e in r.errors:
        lines += block(e)
    shown = r.changes if max_changes is None else r.changes[:max_changes]
    if shown:
        lines += ["| where | setting | base | head | change | why (head) | why (base) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for c in shown:
            name = f"{c.renamed_from} → {c.name}" if c.kind == "renamed" else c.name
            amount = f"{c.amount} ⚠ decrease" if risky_decrease(c) else c.amount
            lines.append(f"| {inline(c.section)} | {inline(name)} | {_cell(c.old_text)} | {_cell(c.new_text)} | "
                         f"{amount} | {_reason(c.new_reason, fold)} | {_reason(c.old_reason, fold)} |")
    if len(shown) < len(r.changes):
        lines.append(f"\n… and {len(r.changes) - len(shown)} more: see the full review.")
    if not r.changes and r.status != "broken":
        lines.append("No setting changes.")
    if r.secrets:
        lines += ["", "Secrets: " + "; ".join(inline(s) for s in r.secrets)]
    if r.budgets:
        lines += ["", "| budget | headroom before | headroom after | |", "| --- | --- | --- | --- |"]
        for b in r.budgets:
            state = "**broken**" if not b["ok"] else "near its limit" if near_limit(b) and moved_closer(b) else "ok"
            lines.append(f"| {inline(b['name'])} | {_fmt_headroom(b['before'], b['unit'])} | "
                         f"{_fmt_headroom(b['after'], b['unit'])} | {state} |")
    if r.new_warnings:
        lines += ["", "New warnings:"] + [f"- {inline(w)}" for w in r.new_warnings]
    if r.diff and with_diff:
        lines += ["", "<details><summary>rendered files diff</summary>", "", *block(r.diff, "diff"), "", "</details>"]
    elif r.diff:
        lines += ["", f"Rendered files changed ({r.diff.count(chr(10))} diff lines): see the full review."]
    return lines + ["", "</details>"]


def to_markdown(meta: dict, reviews: list[StackReview], limit: int | None = COMMENT_BUDGET) -> str:
    """The review as a pull request comment: the summary first, each stack collapsed below it. Under
    `limit` characters: rendered diffs go first, then the longest tables are cut, each cut saying
    where the rest is (the full review: to_markdown(..., limit=None))."""
    head = _summary(meta, reviews)
    for with_diff, max_changes in ((True, None), (False, None), (False, 40), (False, 10), (False, 0)):
        text = "\n".join(head + [line for r in reviews
                                 for line in _details(r, with_diff, max_changes, fold=limit is not None)]) + "\n"
        if limit is None or len(text) <= limit:
            return text
    cut = "\n\n… cut to fit a comment: see the full review.\n"
    return text[:limit - len(cut)] + cut


def _fmt_headroom(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "bytes":
        return ("-" if value < 0 else "") + format_bytes_human(abs(int(value)))
    return f"{value:g}" if isinstance(value, float) else str(value)


def to_json(meta: dict, reviews: list[StackReview]) -> str:
    return json.dumps({**meta, "stacks": [
        {"stack": r.stack, "status": r.status, "failing": r.failing, "errors": r.errors,
         "changes": [c.to_json() for c in r.changes], "budgets": r.budgets, "new_warnings": r.new_warnings,
         "secrets": r.secrets, "stack_file": r.shape, "restarts": r.restarts,
         "risky_decreases": [f"{c.section}: {c.name}" for c in r.changes if risky_decrease(c)], "diff": r.diff}
        for r in reviews]}, indent=2, default=str)
