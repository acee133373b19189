"""The pure comparison of one stack at base and at head: which settings changed, were added,
removed or renamed, how each budget's headroom moved, which secrets changed (never their values),
and the rendered files' diff. Plain data in, plain data out: tested without git."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ..errors import SECRET_MASK
from ..plan.upgrade import major_change
from ..units import UnitError, pg_value_in_base_units, with_human_size
from .impact import restarts, stack_file_changes

NEAR_LIMIT = 0.10               # a budget with less than 10 % of its limit left is near it


@dataclass
class StackSnapshot:
    plan: dict | None = None      # `plan --format json`
    error: str | None = None      # validation error text when the stack file is rejected
    files: dict[str, str] = field(default_factory=dict)  # rendered files
    secrets: dict[str, str] = field(default_factory=dict)  # secret key → ciphertext (compared, never shown)
    config: dict = field(default_factory=dict)   # the stack file's `config:`, for its shape (hosts, workload)


def _text(setting: dict) -> str:
    """What the hosts receive. Plans written before settings carried `text` had only `value`."""
    return setting["text"] if "text" in setting else str(setting["value"])


def _shown(setting: dict) -> str:
    """What the hosts receive, with the human size beside a count of bytes (Redis' maxmemory)."""
    text = _text(setting)
    return with_human_size(text, int(text)) if setting.get("unit") == "bytes" and text.isdigit() else text


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
    shape: list[str] = field(default_factory=list)      # what changed in the stack file itself
    restarts: list[str] = field(default_factory=list)   # what the change does to running servers

    @property
    def failing(self) -> bool:
        return bool(self.errors)


def _settings(plan: dict | None) -> dict[str, dict[str, dict]]:
    return (plan or {}).get("settings", {})


def _setting_changes(base: StackSnapshot | None, head: StackSnapshot) -> list[SettingChange]:
    """Per section: changed values, then renames (a removed key with the same value as an added
    one), then what was added and removed."""
    out = []
    base_settings, head_settings = _settings(base.plan if base else None), _settings(head.plan)
    for section in list(dict.fromkeys([*base_settings, *head_settings])):
        old, new = base_settings.get(section, {}), head_settings.get(section, {})
        removed = [k for k in old if k not in new]
        added = [k for k in new if k not in old]
        for key in new:
            if key in old and _text(old[key]) != _text(new[key]):
                out.append(SettingChange.of(section, key, "changed", old[key], new[key]))
        for key in list(added):
            twin = next((r for r in removed if _text(old[r]) == _text(new[key])), None)
            if twin is not None and base is not None:
                removed.remove(twin)
                added.remove(key)
                out.append(SettingChange.of(section, key, "renamed", old[twin], new[key], twin))
        out += [SettingChange.of(section, key, "added", None, new[key]) for key in added]
        out += [SettingChange.of(section, key, "removed", old[key], None) for key in removed]
    return out


def _budgets(review: StackReview, base: StackSnapshot | None, head: StackSnapshot) -> None:
    """Each head budget with its headroom before and after; a broken one blocks."""
    before = {b["name"]: b for b in (base.plan or {}).get("budgets", [])} if base else {}
    for b in (head.plan or {}).get("budgets", []):
        prev = before.get(b["name"])
        review.budgets.append({"name": b["name"], "unit": b.get("unit", ""),
                               "before": prev["headroom"] if prev else None, "after": b["headroom"], "ok": b["ok"],
                               "used_before": prev["used"] if prev else None, "used_after": b["used"]})
        if not b["ok"]:
            review.errors.append(f"budget broken: {b['name']}: {b['arithmetic']}; fix: {b['fix']}")


def _secret_changes(base_secrets: dict[str, str], head_secrets: dict[str, str]) -> list[str]:
    """Which secrets were added, removed or changed: never their values."""
    out = []
    for key in sorted(set(base_secrets) | set(head_secrets)):
        if key not in base_secrets:
            out.append(f"{key} added (value {SECRET_MASK})")
        elif key not in head_secrets:
            out.append(f"{key} removed")
        elif base_secrets[key] != head_secrets[key]:
            out.append(f"{key} changed (value {SECRET_MASK})")
    return out


def _files_diff(name: str, old_files: dict[str, str], new_files: dict[str, str]) -> str:
    diffs = []
    for fname in sorted(set(old_files) | set(new_files)):
        a, b = old_files.get(fname, ""), new_files.get(fname, "")
        if a != b:
            diffs.extend(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                              f"base/{name}/{fname}", f"head/{name}/{fname}"))
    return "".join(diffs)


def _pg_major(config: dict) -> int | None:
    version = (config.get("tunestack:postgres") or {}).get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def compare_stack(name: str, base: StackSnapshot | None, head: StackSnapshot | None) -> StackReview:
    if head is None:
        return StackReview(name, "removed")
    review = StackReview(name, "new" if base is None else "unchanged")
    known = [*(base.secrets.values() if base else ()), *head.secrets.values()]
    if head.error:
        review.status = "broken"
        review.errors.append(mask_known(head.error, known))   # an error may echo a value
    if base is not None:   # a major on an existing stack is a procedure, not a change to apply
        blocked = major_change(name, _pg_major(base.config), _pg_major(head.config))
        if blocked:
            review.errors.append(blocked)
    review.changes = _setting_changes(base, head)
    review.shape = stack_file_changes(base.config if base else None, head.config)
    review.restarts = restarts(review.changes)
    _budgets(review, base, head)
    old_warnings = set((base.plan or {}).get("warnings", [])) if base else set()
    review.new_warnings = [mask_known(w, known) for w in (head.plan or {}).get("warnings", []) if w not in old_warnings]
    base_secrets = base.secrets if base else {}
    review.secrets = _secret_changes(base_secrets, head.secrets)
    review.diff = mask_known(_files_diff(name, base.files if base else {}, head.files), known)
    if review.status == "unchanged" and (review.changes or review.secrets or review.diff or review.new_warnings
                                         or review.shape):
        review.status = "changed"
    return review


def mask_known(text: str, secrets) -> str:
    """Belt and braces: rendered files hold no secrets, but any value the stack files keep as a
    secret (base or head) is masked wherever it appears. Only those: prose about passwords stays."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, SECRET_MASK)
    return text


def near_limit(budget: dict) -> bool:
    used, headroom = budget.get("used_after"), budget.get("after")
    if not isinstance(used, (int, float)) or not isinstance(headroom, (int, float)):
        return False
    limit = used + headroom
    return limit > 0 and headroom / limit < NEAR_LIMIT
