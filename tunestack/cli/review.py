"""`tunestack review`: what each environment's hosts receive at base vs head, and why."""
from __future__ import annotations

from pathlib import Path

from ..console import waiting
from ..errors import UsageError
from .parser import report_options, stack_options


def register(sub) -> None:
    p = sub.add_parser("review", help="what each environment's hosts receive at base vs head, and why",
                       description="Plan every stack at --base (its own stack files and tuning code, exported "
                                   "with git archive; the working tree is not touched) and at --head (default: the "
                                   "working tree). The text is a pull request comment: a summary first (stacks and "
                                   "settings changed, budgets near their limit), details in collapsible sections, "
                                   "under GitHub's limit; --full FILE writes everything, rendered diffs included. "
                                   "Known secret values are masked. Exits 1 when a stack fails validation or breaks "
                                   "a budget at head, so it can gate a merge.")
    p.add_argument("--base", required=True, help="git revision to compare against, e.g. origin/main")
    p.add_argument("--head", help="git revision (default: the working tree)")
    stack_options(p)
    p.add_argument("--full", metavar="FILE", help="also write the whole review, without any limit, to FILE")
    report_options(p, "the review")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..review import ReviewError, find_repo, review, to_json, to_markdown

    try:
        repo = find_repo(Path.cwd())
        with waiting(f"planning and rendering every stack at {args.base} and {args.head or 'the working tree'} …"):
            meta, reviews = review(repo, args.base, args.head)
    except ReviewError as exc:
        raise UsageError(str(exc)) from None
    if args.stack:
        reviews = [r for r in reviews if r.stack == args.stack]
        if not reviews:
            raise UsageError(f"--stack {args.stack}: no such stack at {args.base} or at head")
    if args.full:
        Path(args.full).write_text(to_json(meta, reviews) if args.format == "json"
                                   else to_markdown(meta, reviews, limit=None))
    print(to_json(meta, reviews) if args.format == "json" else to_markdown(meta, reviews), end="")
    return 1 if any(r.failing for r in reviews) else 0
