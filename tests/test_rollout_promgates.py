"""The gates' Prometheus source (tunestack/rollout/promgates.py) on scripted answers: which queries
it asks, and how it reads what comes back. tests/test_rollout_local.py runs it against a real
Prometheus scraping real canaries."""
from __future__ import annotations

import math

from tunestack.monitoring.api import Target
from tunestack.rollout.gates import Metrics
from tunestack.rollout.promgates import PrometheusGateSource, TrackQueries


class Answers:
    """A Prometheus whose queries answer from a table (by a word in the query) and whose canary
    target was scraped `ago` seconds before each call."""

    def __init__(self, values: dict[str, float | None], ago: float = 0.5):
        self.values, self.ago, self.asked = values, ago, []

    def query(self, expr):
        self.asked.append(expr)
        key = "p95" if expr.startswith("histogram_quantile") else "errors" if "5xx" in expr else "requests"
        value = self.values.get(key)
        return [] if value is None else [({}, value)]

    def targets(self):
        return [Target("app", "web-canary", "http://c/metrics", "up", "", self.ago, "canary")]


def test_each_query_subtracts_what_the_track_held_when_the_bake_began():
    q = TrackQueries("canary")
    assert q.requests(1700000000.25) == (
        'sum (tunestack_http_requests_total{track="canary"}) - '
        '(sum (tunestack_http_requests_total{track="canary"} @ 1700000000.250) '
        'or sum (tunestack_http_requests_total{track="canary"}) * 0)')
    assert 'code="5xx"' in q.errors(1.0) and q.p95(1.0).startswith("histogram_quantile(0.95, sum by (le) (")


def test_counts_are_rounded_and_the_p95_is_in_milliseconds():
    clock = iter(range(1000, 2000)).__next__
    source = PrometheusGateSource(Answers({"requests": 99.6, "errors": 4.4, "p95": 0.1834}), 1, clock=clock)
    m = source.measure(source.mark())
    assert (m.requests, m.errors, round(m.p95_ms, 1)) == (100, 4, 183.4)
    assert [q for q, _ in m.source] == [q for q in source.prometheus.asked]   # every query it ran is shown


def test_no_requests_is_no_data_not_zero_latency():
    """No series (a canary nobody called) and NaN (a quantile of nothing) both read as no data:
    the gates then fail, as a canary with no traffic has proven nothing."""
    source = PrometheusGateSource(Answers({"requests": None, "errors": None, "p95": math.nan}), 1)
    m = source.measure(0.0)
    assert m == Metrics(0, 0, None, source=m.source)
    assert [v for _, v in m.source] == ["no data"] * 3
