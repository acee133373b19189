"""advise's own cost on a running stack: one sample (every query and command advise runs) timed
against one `SELECT 1` round trip through the same connection path, and what its queries cost the
server (pg_stat_statements' execution time for them). advise is meant to run every few minutes:
its sample must stay a small multiple of a single round trip."""
from __future__ import annotations

import statistics
import time

import testinfra

from tunestack.advise.snapshot import sample_host
from tunestack.local import LocalStack
from tunestack.throwaway import ThrowawayStack
from tunestack.probes import psql

ROUNDS = 15


def measure(say=print, rounds: int = ROUNDS) -> dict:
    with ThrowawayStack("benchadvise", 23532, say=say) as stack:
        local = LocalStack("benchadvise", root=stack.state)
        plan, host, secrets = stack.plan(), testinfra.get_host("local://"), str(local.secrets_dir)
        port = plan.postgres["port"].value
        server = ("SELECT coalesce(sum(calls), 0) || '|' || coalesce(sum(total_exec_time), 0) FROM pg_stat_statements "
                  "WHERE query ~* 'pg_stat_(database|bgwriter|checkpointer|wal)'")
        calls_before, ms_before = map(float, psql(host, secrets, port, server).strip().split("|"))
        samples, round_trips = [], []
        for _ in range(rounds):          # interleaved: both see the same machine
            t0 = time.perf_counter()
            sample_host(host, plan, secrets, str(local.folders.control))
            samples.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            psql(host, secrets, port, "SELECT 1")
            round_trips.append(time.perf_counter() - t0)
        calls_after, ms_after = map(float, psql(host, secrets, port, server).strip().split("|"))
    sample, trip = statistics.median(samples), statistics.median(round_trips)
    return {"rounds": rounds, "sample_seconds": round(sample, 4), "select_1_seconds": round(trip, 4),
            "ratio": round(sample / trip, 1), "server_calls": int(calls_after - calls_before),
            "server_exec_ms_per_sample": round((ms_after - ms_before) / rounds, 3),
            "queries_per_sample": {"postgres": 4, "pgbouncer": 2, "redis INFO": 2, "redis LLEN": 1}}
