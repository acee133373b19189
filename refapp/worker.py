"""The job worker: JOB_CONCURRENCY threads take jobs from the queue Redis and record them.

Reliable queue (Redis docs, LMOVE: "Pattern: Reliable queue"): a job moves atomically from `jobs`
into this thread's own processing list and leaves it only after its row is committed, so a worker,
a PgBouncer or a Redis that dies mid-job loses nothing. A thread retries its unfinished job with
backoff while PostgreSQL or Redis is away; when they stay away longer than GIVE_UP_S the process
exits non-zero and supervisord (or Docker) starts it again. Each thread keeps a heartbeat key; any
worker puts back the jobs of a processing list whose heartbeat has expired (a worker that died).
At least once: a job whose commit landed but whose acknowledgement did not may run twice.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time

import psycopg
import redis

from refapp.app import _resources

QUEUE = "jobs"
PROCESSING = "jobs:processing:"      # + worker id: the jobs one thread holds
ALIVE = "jobs:worker:"               # + worker id: its heartbeat
HEARTBEAT_TTL_S = 15
BEAT_EVERY_S = 5
GIVE_UP_S = float(os.environ.get("JOB_GIVE_UP_SECONDS", 60))
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0)

_stop = threading.Event()
_failed = threading.Event()


def requeue_orphans(queue: redis.Redis) -> int:
    """Put the jobs of every dead worker (a processing list without a heartbeat) back on the queue,
    at the end the workers take from next."""
    moved = 0
    for key in queue.scan_iter(match=PROCESSING + "*", count=100):
        name = key.decode() if isinstance(key, bytes) else key
        if queue.exists(ALIVE + name[len(PROCESSING):]):
            continue
        while queue.lmove(name, QUEUE, "RIGHT", "RIGHT") is not None:
            moved += 1
    return moved


class Worker:
    def __init__(self, slot: int):
        self.id = f"{socket.gethostname()}:{os.getpid()}:{slot}"
        self.processing = PROCESSING + self.id
        self.next_beat = 0.0

    def beat(self, queue: redis.Redis) -> None:
        if time.monotonic() >= self.next_beat:
            queue.set(ALIVE + self.id, "1", ex=HEARTBEAT_TTL_S)
            requeue_orphans(queue)
            self.next_beat = time.monotonic() + BEAT_EVERY_S

    def step(self) -> None:
        """One job: the unfinished one this thread holds first, else the next from the queue."""
        r = _resources()
        queue = r["queue"]
        self.beat(queue)
        job = queue.lindex(self.processing, -1)
        if job is None:
            job = queue.blmove(QUEUE, self.processing, 0.5, "RIGHT", "LEFT")
            if job is None:
                return
        with r["db"].connection() as conn:
            conn.execute("INSERT INTO hits DEFAULT VALUES")
        queue.lrem(self.processing, 1, job)   # acknowledged: the row is committed

    def run(self) -> None:
        failing_since, attempt = None, 0
        while not _stop.is_set():
            try:
                self.step()
                failing_since, attempt = None, 0
            except (redis.RedisError, psycopg.Error, OSError) as exc:
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > GIVE_UP_S:
                    print(f"worker {self.id}: giving up after {GIVE_UP_S:g} s: {exc}", file=sys.stderr, flush=True)
                    _failed.set()
                    _stop.set()
                    return
                print(f"worker {self.id}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; "
                      "retrying", file=sys.stderr, flush=True)
                _stop.wait(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                attempt += 1
            except Exception as exc:   # a bug: say it and let the process manager start a fresh one
                print(f"worker {self.id}: {exc!r}", file=sys.stderr, flush=True)
                _failed.set()
                _stop.set()
                return


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: _stop.set())
    threads = [threading.Thread(target=Worker(i).run, daemon=True)
               for i in range(int(os.environ.get("JOB_CONCURRENCY", 1)))]
    for t in threads:
        t.start()
    _stop.wait()
    for t in threads:
        t.join(timeout=30)   # each finishes (and acknowledges) the job it holds
    return 1 if _failed.is_set() else 0


if __name__ == "__main__":
    sys.exit(main())
