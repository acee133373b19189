"""Bounded HTTP load against a stack's entry point: a few threads, a deadline, every answer
recorded (status and the X-Track header). Used by tests and benchmarks; only ever pointed at
loopback addresses of stacks the caller started."""
from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request


class Load:
    """`rate`: at most this many requests per second across all threads (else as fast as they go,
    with `pause_s` between a thread's requests); `headers` go with every request."""

    def __init__(self, url: str, threads: int = 3, limit_s: float = 120, pause_s: float = 0.01,
                 rate: float | None = None, headers: dict[str, str] | None = None):
        self.url = url
        self.results: list[tuple[int, str]] = []
        self.stop = threading.Event()
        self.limit = time.monotonic() + limit_s
        self.pause = pause_s
        self.interval = 1 / rate if rate else 0.0
        self.next_at = time.monotonic()
        self.schedule = threading.Lock()
        self.headers = headers or {}
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def _turn(self) -> None:
        """Wait for this thread's slot in the shared schedule (rate-limited loads only)."""
        with self.schedule:
            at, self.next_at = self.next_at, max(self.next_at, time.monotonic()) + self.interval
        self.stop.wait(max(0.0, at - time.monotonic()))

    def run(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.limit:
            if self.interval:
                self._turn()
                if self.stop.is_set():
                    break
            try:
                with urllib.request.urlopen(urllib.request.Request(self.url, headers=self.headers), timeout=10) as r:
                    self.results.append((r.status, r.headers.get("X-Track", "")))
            except urllib.error.HTTPError as e:
                self.results.append((e.code, e.headers.get("X-Track", "")))
            except OSError:
                self.results.append((0, ""))
            if not self.interval:
                self.stop.wait(self.pause)

    @property
    def failed(self) -> int:
        return sum(1 for status, _ in self.results if status != 200)

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)
