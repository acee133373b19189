"""Bounded write load that counts what the database acknowledged: one client inserting numbered rows,
recording every id whose COMMIT came back, each commit's latency, and each outage (first failed
write, first successful one after it). Failover tests and the HA benchmark read it; only ever
pointed at servers the caller started (loopback, or a test bed's namespaces)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

TABLE = "acked"
CREATE_TABLE = f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigint PRIMARY KEY, at timestamptz DEFAULT now())"


@dataclass
class CommitWriter:
    """`first_id`: where its ids start (never reused: a failed id may or may not have committed);
    at most `seconds` and `limit` rows, a commit every `pause_s` at most."""
    port: int
    password: str
    user: str = "app"
    dbname: str = "app"
    first_id: int = 1
    seconds: float = 90
    limit: int = 200_000
    pause_s: float = 0.01
    acked: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    commit_times: list[float] = field(default_factory=list)
    outages: list[list[float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop_flag: threading.Event = field(default_factory=threading.Event)
    host: str = "127.0.0.1"
    tls: dict[str, str] = field(default_factory=dict)   # libpq's sslmode, sslrootcert: a test bed's TLS

    def _connect(self):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, dbname=self.dbname, user=self.user,
                               password=self.password, autocommit=True, connect_timeout=2, prepare_threshold=None,
                               **self.tls)

    def _commit(self, conn, next_id: int) -> None:
        t0 = time.monotonic()
        conn.execute(f"INSERT INTO {TABLE} (id) VALUES (%s)", (next_id,))
        done = time.monotonic()
        self.acked.append(next_id)
        self.latencies_ms.append((done - t0) * 1000)
        self.commit_times.append(done)
        if self.outages and len(self.outages[-1]) == 1:
            self.outages[-1].append(done)

    def run(self) -> None:
        import psycopg

        deadline, conn, next_id = time.monotonic() + self.seconds, None, self.first_id
        while not self.stop_flag.is_set() and time.monotonic() < deadline and next_id < self.first_id + self.limit:
            try:
                conn = conn or self._connect()
                self._commit(conn, next_id)
                time.sleep(self.pause_s)
            except psycopg.Error as exc:
                if not self.outages or len(self.outages[-1]) == 2:
                    self.outages.append([time.monotonic()])
                self.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.2)
            next_id += 1
        if conn is not None:
            conn.close()

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.run, daemon=True)
        t.start()
        return t

    def stop(self, thread: threading.Thread) -> None:
        self.stop_flag.set()
        thread.join(15)

    def longest_stall_s(self, after: float = 0.0) -> float:
        """The longest time without an acknowledged commit, from the commit before `after` on: what a
        fault costs writers, failed attempts or waiting ones alike."""
        times = [t for t in self.commit_times]
        gaps = [b - a for a, b in zip(times, times[1:]) if b >= after]
        return max(gaps, default=0.0)

    def resumed_at(self, after: float = 0.0) -> float | None:
        """When the first commit after the longest stall (longest_stall_s) came back."""
        times = self.commit_times
        gaps = [(b - a, b) for a, b in zip(times, times[1:]) if b >= after]
        return max(gaps)[1] if gaps else None
