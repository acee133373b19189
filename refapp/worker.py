"""The job worker: JOB_CONCURRENCY threads take jobs from the queue Redis and record them."""
from __future__ import annotations

import os
import signal
import threading

from refapp.app import _resources

_stop = threading.Event()


def work() -> None:
    r = _resources()
    while not _stop.is_set():
        item = r["queue"].brpop("jobs", timeout=0.5)
        if item is None:
            continue
        with r["db"].connection() as conn:
            conn.execute("INSERT INTO hits DEFAULT VALUES")


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: _stop.set())
    threads = [threading.Thread(target=work, daemon=True) for _ in range(int(os.environ.get("JOB_CONCURRENCY", 1)))]
    for t in threads:
        t.start()
    _stop.wait()


if __name__ == "__main__":
    main()
