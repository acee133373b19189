"""What tunestack asks a running Prometheus and Alertmanager, through their HTTP APIs (Prometheus
docs, "HTTP API": /api/v1/targets, /api/v1/alerts, /api/v1/query; Alertmanager's /api/v2/alerts).
Plain HTTP on loopback or a one-machine stack; HTTPS, verified against the stack's CA, where the
operators reach them from another machine (plan/monitoring.serves_https)."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


class MonitoringUnreachable(Exception):
    """Prometheus or Alertmanager did not answer."""


def _get(url: str, timeout: float = 5, context=None) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
            return json.loads(r.read())
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise MonitoringUnreachable(f"{url.split('?')[0]}: {getattr(exc, 'reason', exc)}") from None


@dataclass(frozen=True)
class Target:
    job: str
    name: str
    url: str
    health: str        # up | down | unknown (not scraped yet)
    error: str
    seconds_ago: float  # since its last scrape
    track: str = ""

    def to_json(self) -> dict:
        return {"job": self.job, "name": self.name, "url": self.url, "health": self.health, "error": self.error,
                "seconds_ago": round(self.seconds_ago, 1), **({"track": self.track} if self.track else {})}


@dataclass(frozen=True)
class Alert:
    name: str
    state: str         # firing | pending
    severity: str
    labels: dict
    summary: str

    def to_json(self) -> dict:
        return {"name": self.name, "state": self.state, "severity": self.severity, "labels": self.labels,
                "summary": self.summary}


def _age(last_scrape: str, now: float) -> float:
    """Seconds since an RFC 3339 time with nanoseconds (Python reads microseconds)."""
    import re
    from datetime import datetime

    try:
        return max(0.0, now - datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", last_scrape)).timestamp())
    except ValueError:
        return float("inf")


class Prometheus:
    def __init__(self, url: str, ca_pem: str | None = None):
        """`url`: http(s)://host:port (host:port alone is http); `ca_pem`: the stack's CA, which an
        https URL is verified against (plan/monitoring.serves_https)."""
        import ssl

        self.base = url if "://" in url else f"http://{url}"
        self.context = ssl.create_default_context(cadata=ca_pem) if self.base.startswith("https:") else None

    def _get(self, path: str) -> dict:
        return _get(f"{self.base}{path}", context=self.context)

    def targets(self) -> list[Target]:
        import time

        now = time.time()
        data = self._get("/api/v1/targets?state=active")["data"]["activeTargets"]
        return [Target(t["labels"].get("job", ""), t["labels"].get("name", t["labels"].get("instance", "")),
                       t["scrapeUrl"], t["health"], t.get("lastError", ""), _age(t.get("lastScrape", ""), now),
                       t["labels"].get("track", "")) for t in data]

    def alerts(self) -> list[Alert]:
        data = self._get("/api/v1/alerts")["data"]["alerts"]
        keep = ("alertname", "severity", "stack")
        return [Alert(a["labels"]["alertname"], a["state"], a["labels"].get("severity", ""),
                      {k: v for k, v in a["labels"].items() if k not in keep}, a.get("annotations", {}).get("summary", ""))
                for a in data]

    def rule_names(self) -> list[str]:
        groups = self._get("/api/v1/rules?type=alert")["data"]["groups"]
        return [r["name"] for g in groups for r in g["rules"]]

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict, float]]:
        """An instant query (at `at`, a Unix time, or now): each series' labels and value."""
        when = f"&time={at:.3f}" if at is not None else ""
        data = self._get(f"/api/v1/query?query={urllib.parse.quote(expr)}{when}")["data"]
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]
