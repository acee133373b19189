"""The canary's measurements from Prometheus (issue #29), where the stack runs it: the apps' own
request counter and latency histogram for one track, over the bake, as Flagger's request-success-
rate and request-duration metric templates do. Prometheus labels each app target with its track
(stable or canary: plan/monitoring.py), so every framework's app is judged the same way.

Each measurement keeps the query it ran and what came back: the rollout prints them under its gates."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..monitoring.api import Prometheus
from .gates import Metrics

REQUESTS = "tunestack_http_requests_total"
LATENCY = "tunestack_http_request_duration_seconds_bucket"


@dataclass(frozen=True)
class TrackQueries:
    """PromQL for one track since a moment: what its counters hold now, less what they held then.
    A canary's counters do not exist before its first requests, so "then" may be nothing, which
    counts as 0 (`or`): increase() would drop everything before the second sample it sees, a whole
    scrape interval of a short bake. Prometheus' `@` modifier reads "then" (2.33 and later)."""
    track: str

    def _since(self, metric: str, at: float, extra: str = "", by: str = "") -> str:
        grouped = f"sum{' by (' + by + ')' if by else ''}"
        selector = f'{metric}{{track="{self.track}"{extra}}}'
        return f"{grouped} ({selector}) - ({grouped} ({selector} @ {at:.3f}) or {grouped} ({selector}) * 0)"

    def requests(self, at: float) -> str:
        return self._since(REQUESTS, at)

    def errors(self, at: float) -> str:
        return self._since(REQUESTS, at, ',code="5xx"')

    def p95(self, at: float) -> str:
        return f"histogram_quantile(0.95, {self._since(LATENCY, at, by='le')})"


def _value(rows: list[tuple[dict, float]]) -> float | None:
    """The one value of an aggregated query; None when there is none or it is NaN (no requests)."""
    if not rows or math.isnan(rows[0][1]):
        return None
    return rows[0][1]


def prometheus_gates(plan) -> "PrometheusGateSource | None":
    """The stack's own Prometheus as the gates' source, where tunestack:monitoring runs one."""
    from ..plan.monitoring import api_address, runs

    if not runs(plan):
        return None
    return PrometheusGateSource(Prometheus(api_address(plan, "prometheus")), plan.monitoring["scrape_interval"].value / 1000)


class PrometheusGateSource:
    """mark() and measure(since), as the rollout engines' own: `since` is the time the bake began."""

    def __init__(self, prometheus: Prometheus, interval_s: float, track: str = "canary", clock=time.time):
        self.prometheus, self.interval_s, self.clock = prometheus, interval_s, clock
        self.queries = TrackQueries(track)

    def mark(self) -> float:
        return self.clock()

    def measure(self, since: float) -> Metrics:
        """The track's requests, errors and p95 since `since`, once Prometheus has scraped the track
        after the bake (else its last seconds would be missing)."""
        from ..poll import poll

        end = self.clock()
        poll(lambda: self._scraped_after(end), 3 * self.interval_s + 2, interval=min(1.0, self.interval_s / 2))
        asked = {name: getattr(self.queries, name)(since) for name in ("requests", "errors", "p95")}
        got = {name: _value(self.prometheus.query(q)) for name, q in asked.items()}
        shown = tuple((q, "no data" if got[name] is None else f"{got[name]:.4g}") for name, q in asked.items())
        p95 = got["p95"]
        return Metrics(requests=round(got["requests"] or 0), errors=round(got["errors"] or 0),
                       p95_ms=None if p95 is None else p95 * 1000, source=shown)

    def _scraped_after(self, moment: float) -> bool:
        ours = [t for t in self.prometheus.targets() if t.track == self.queries.track]
        return bool(ours) and all(self.clock() - t.seconds_ago > moment for t in ours)
