"""What a running reference app serves on /_tunestack/metrics, against what the plan's alerts read."""
from __future__ import annotations

import re


def served(text: str) -> set[str]:
    """Metric names in a Prometheus text exposition, a histogram's series under its own name."""
    return {m for m in re.findall(r"^([a-z_]+?)(?:_bucket|_sum|_count|_created)?[{ ]", text, re.M)}


def read_by_alerts(plan) -> set[str]:
    """The app's own metric names the alert rules read (a histogram's _bucket under its name);
    tunestack_backup_* is `tunestack backup`'s, for node_exporter's textfile collector."""
    return {m.removesuffix("_bucket") for a in plan.alerts for m in re.findall(r"\b(tunestack_[a-z_]+)", a["expr"])
            if not m.startswith("tunestack_backup_")}


def missing(plan, text: str) -> set[str]:
    used = read_by_alerts(plan)
    assert used, "no alert reads the app's own metrics"
    return used - served(text)
