"""Bad input in tunestack:traffic: URL paths, rates and the tracing budget.
Each case is a whole stack file: exit 2, one clear error, nothing planned (badinput.check)."""
import math

import pytest

from .badinput import T, doc_with, check

CASES = [
    ("path-newline", doc_with([T, "sampling_rules"], [{"path": "/x\nDATABASE_URL=postgres://evil", "rate": 1.0}]),
     ["sampling_rules[0] → path", "URL path"]),
    ("health-path-newline", doc_with([T, "health_paths"], ["/health\n    stats enable"]), ["health_paths[0]", "URL path"]),
    ("health-path-space", doc_with([T, "health_paths"], ["/health x"]), ["health_paths[0]", "URL path"]),
    ("health-paths-empty", doc_with([T, "health_paths"], []), ["health_paths", "at least"]),
    ("peak-rps-nan", doc_with([T, "peak_rps"], math.nan), ["peak_rps", "nan"]),
    ("db-time-zero", doc_with([T, "db_time_per_request"], "0ms"), ["db_time_per_request", "above zero"]),
    ("db-time-no-unit", doc_with([T, "db_time_per_request"], "20"), ["db_time_per_request", "duration"]),
    ("tracing-negative", doc_with([T, "tracing_budget", "per_month"], -1), ["per_month", "at least 0"]),
    ("tracing-unit", doc_with([T, "tracing_budget", "unit"], "traces"), ["unit", "traces"]),
    ("rule-rate-high", doc_with([T, "sampling_rules"], [{"path": "/x", "rate": 1.5}]), ["rate", "1.5", "at most 1"]),
    ("rule-shares", doc_with([T, "sampling_rules"], [{"path": "/a", "rate": 1, "share": 0.7},
                                                      {"path": "/b", "rate": 1, "share": 0.7}]), ["add up to at most 1"]),
    ("rule-on-health", doc_with([T, "sampling_rules"], [{"path": "/health", "rate": 1}]), ["not a health check"]),
    ("peak-rps-zero", doc_with([T, "peak_rps"], 0), ["peak_rps", "more than 0"]),
    ("spans-zero", doc_with([T, "tracing_budget", "spans_per_transaction"], 0), ["spans_per_transaction"]),
    # --- issue #23: a held-out set of hostile files ---------------------------------------------
    ("rule-path-twice", doc_with([T, "sampling_rules"], [{"path": "/x", "rate": 0.5}, {"path": "/x", "rate": 0.1}]),
     ["sampling_rules[1] → path", "each path once"]),
    ("peak-rps-inf-message", doc_with([T, "peak_rps"], math.inf), ["peak_rps", "a finite number", ".nan and .inf"])
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)
