"""Webhooks told of promotions, pauses and rollbacks (`rollout --notify URL`).

A delivery is bounded as a whole (connect, send and read together, however slowly a receiver
answers), goes only to http(s) and follows no redirect, carries an event id that stays the same
across retries (for idempotent receivers), and its messages never show the URL's credentials or
query. Events wait in a queue while the rollout holds the stack's lock; the command delivers them
once the lock is released, so no receiver can hold the stack."""
from __future__ import annotations

import http.client
import json
import threading
import uuid
from urllib.parse import urlsplit

DEADLINE_S = 10.0      # one delivery, start to end
ATTEMPTS = 3
RETRY_AFTER_S = 1.0
EVENT_ID_HEADER = "X-Tunestack-Event-Id"


def check_url(url: str) -> str:
    """An http:// or https:// URL with a host; ValueError otherwise (the caller names its flag)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError("an http:// or https:// URL")
    return url


def masked(url: str) -> str:
    """The URL as messages show it: no user or password, the query and fragment left out."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" + ("?…" if parts.query else "")


class Undelivered(Exception):
    pass


def _post(url: str, body: bytes, event_id: str, timeout: float) -> None:
    """One POST, no redirect followed; Undelivered unless the receiver answers 2xx."""
    parts = urlsplit(url)
    connection = (http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection)(
        parts.hostname, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json", "User-Agent": "tunestack-rollout", EVENT_ID_HEADER: event_id}
    if parts.username is not None:
        import base64

        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    if 300 <= response.status < 400:
        raise Undelivered(f"answered {response.status} (a redirect: not followed)")
    if not 200 <= response.status < 300:
        raise Undelivered(f"answered {response.status}")


def deliver(url: str, event: dict, deadline_s: float = DEADLINE_S) -> str | None:
    """Try the delivery in a worker thread, waiting at most `deadline_s` in all: None when
    delivered, else why not (with the URL masked)."""
    outcome: dict = {}
    body = json.dumps(event).encode()

    def attempt_all():
        import time

        started = time.monotonic()
        for attempt in range(ATTEMPTS):
            left = deadline_s - (time.monotonic() - started)
            if left <= 0:
                return
            try:
                _post(url, body, event["id"], timeout=left)
                outcome["ok"] = True
                return
            except (OSError, http.client.HTTPException, Undelivered) as exc:
                outcome["error"] = str(exc) or type(exc).__name__
            if attempt + 1 < ATTEMPTS:
                time.sleep(min(RETRY_AFTER_S, max(0.0, deadline_s - (time.monotonic() - started))))

    worker = threading.Thread(target=attempt_all, daemon=True)   # a receiver that never answers is left behind
    worker.start()
    worker.join(deadline_s)
    if outcome.get("ok"):
        return None
    why = outcome.get("error") if not worker.is_alive() else f"no answer within {deadline_s:g} s"
    return f"webhook {masked(url)}: {event['event']} not delivered ({why or 'no answer'})"


class Webhook:
    """`notify(event)` for a rollout: queues the event with its id; `flush()` delivers the queue
    (the CLI calls it once the stack's lock is released). A webhook that stays down is said,
    never a reason to stop a rollout or a rollback."""

    def __init__(self, url: str, say=print, deadline_s: float = DEADLINE_S):
        self.url, self.say, self.deadline_s = check_url(url), say, deadline_s
        self.queue: list[dict] = []

    def __call__(self, event: dict) -> None:
        self.queue.append({**event, "id": str(uuid.uuid4())})

    def flush(self) -> None:
        while self.queue:
            problem = deliver(self.url, self.queue.pop(0), self.deadline_s)
            if problem:
                self.say(f"  {problem}")


def webhook(url: str, say=print, deadline_s: float = DEADLINE_S) -> Webhook:
    return Webhook(url, say, deadline_s)
