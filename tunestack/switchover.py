"""A planned switchover with no failed request: PgBouncer holds the clients while Patroni moves the
primary, then sends them to the new one.

1. PAUSE (PgBouncer manual): new queries wait in PgBouncer, running ones finish, server connections
   close;
2. POST /switchover on the leader's Patroni REST API (Patroni docs, "REST API": leader and
   candidate; the candidate must be a healthy standby, synchronous with rpo 0);
3. wait until the primary service (HAProxy checking GET /primary) reaches the new primary;
4. RESUME: the waiting queries run there.
If anything fails the clients are resumed all the same: they meet whatever primary there is."""
from __future__ import annotations

import time

from .patroniapi import PatroniApi


class SwitchoverError(RuntimeError):
    pass


def switchover(api: PatroniApi, leader: str, candidate: str, bouncer_admin, primary_is: callable,
               wait_s: float = 30) -> float:
    """Move the primary from `leader` to `candidate` behind PgBouncer's PAUSE; the seconds clients
    were held. `bouncer_admin`: a connection to PgBouncer's admin console (autocommit);
    `primary_is(candidate)`: True once the primary service reaches it."""
    started = time.monotonic()
    bouncer_admin.execute("PAUSE")
    try:
        status, body = api.post("/switchover", {"leader": leader, "candidate": candidate})
        if status != 200:
            raise SwitchoverError(f"Patroni refused the switchover ({status}): {body.strip()[:300]}")
        deadline = time.monotonic() + wait_s
        while not primary_is(candidate):
            if time.monotonic() > deadline:
                raise SwitchoverError(f"{candidate} did not become the primary behind the load balancer "
                                      f"within {wait_s:.0f}s; clients are resumed on whatever primary there is")
            time.sleep(0.2)
    finally:
        bouncer_admin.execute("RESUME")
    return time.monotonic() - started
