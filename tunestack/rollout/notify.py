"""Webhooks told of promotions, pauses and rollbacks (`rollout --notify URL`)."""
from __future__ import annotations

import json
import re


def check_url(url: str) -> str:
    """An http:// or https:// URL; ValueError otherwise (the caller names its flag)."""
    if not re.match(r"^https?://[^\s]+$", url):
        raise ValueError("an http:// or https:// URL")
    return url


def webhook(url: str, say=print):
    """`notify` for a webhook: POST the event as JSON, retried briefly (tenacity); a webhook that
    stays down is reported, never a reason to stop a rollout or a rollback."""
    import urllib.request

    from tenacity import retry, stop_after_attempt, wait_fixed

    @retry(stop=stop_after_attempt(3), wait=wait_fixed(1), reraise=True)
    def post(body: bytes) -> None:
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "tunestack-rollout"})
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def notify(event: dict) -> None:
        try:
            post(json.dumps(event).encode())
        except Exception as exc:   # any network or HTTP failure: said, never fatal
            say(f"  webhook {url}: {event['event']} not delivered ({exc})")
    return notify
