"""tunestack:traffic: the peak rates, the tracing budget and the sampling rules."""
from __future__ import annotations

from ..checker import Checker, given
from ..schema import NS
from ..spec import SamplingRule, TrafficSpec

KEY = f"{NS}:traffic"


def traffic(ck: Checker) -> TrafficSpec:
    c = ck.config[KEY]
    budget = c["tracing_budget"]
    rules = tuple(SamplingRule(r["path"], float(r["rate"]), r.get("share")) for r in c.get("sampling_rules", ()))
    shares = sum(r.share or 0 for r in rules)
    if shares > 1:
        ck.problem([KEY, "sampling_rules"], [r.share for r in rules], "shares that add up to at most 1",
                   "the shares are fractions of all requests; lower them")
    paths = [r.path for r in rules]
    for i, path in enumerate(paths):
        if path in paths[:i]:
            ck.problem([KEY, "sampling_rules", i, "path"], path, "each path once (the first rule would win silently)",
                       "merge the two rules into one")
    health = tuple(c.get("health_paths", TrafficSpec.health_paths))
    for i, rule in enumerate(rules):
        if rule.path in health:
            ck.problem([KEY, "sampling_rules", i, "path"], rule.path, "a path that is not a health check",
                       "health checks are always sampled at 0; remove the rule")
    ck.note_given("traffic", budget, "tracing_budget.")
    spans = {"spans_per_transaction": float(budget["spans_per_transaction"])} \
        if "spans_per_transaction" in budget else {}
    jobs_rate = {"peak_jobs_per_second": float(c["peak_jobs_per_second"])} if "peak_jobs_per_second" in c else {}
    db_time = ck.duration([KEY, "db_time_per_request"], c.get("db_time_per_request"))
    if db_time == 0:
        ck.problem([KEY, "db_time_per_request"], c["db_time_per_request"], "a duration above zero",
                   "write the database time one request spends, e.g. 20ms, or remove the key")
    return TrafficSpec(peak_rps=float(c["peak_rps"]), tracing_per_month=budget["per_month"], health_paths=health,
                       sampling_rules=rules, **spans, **given(budget, tracing_unit="unit"),
                       **given(c, profiles_per_month="profiles_per_month"), **jobs_rate,
                       **({"db_time_ms": float(db_time)} if db_time else {}))
