"""The web request's timeout chain: connecting to PgBouncer, waiting in its queue for a server
connection, and running the statement must all fit inside the request timeout, which the load
balancer must not cut short. Pure.

    DB connect + PgBouncer query_wait_timeout + statement_timeout ≤ request timeout ≤ LB timeout

Jobs have no request timeout: their chain has no upper bound to check (their statement_timeout is
their own, app.jobs.statement_timeout). PgBouncer's query_wait_timeout is one value for every
client, so it is the web chain's.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..units import format_ms
from .budgets import Budget, within
from .setting import Setting, seconds

# libpq docs (connect_timeout): "The minimum allowed timeout is 2 seconds, therefore a value of 1 is
# interpreted as 2." Reaching PgBouncer takes milliseconds; queueing happens after the connect.
DB_CONNECT_TIMEOUT_MS = 2000
MIN_QUEUE_WAIT_MS = 1000      # PgBouncer counts whole seconds; 0 would mean wait forever


@dataclass(frozen=True)
class TimeoutChain:
    connect_ms: int
    queue_wait_ms: int
    statement_ms: int
    request_ms: int

    @property
    def database_ms(self) -> int:
        return self.connect_ms + self.queue_wait_ms + self.statement_ms


def timeout_chain(request_ms: int, statement_ms: int) -> TimeoutChain:
    """The queue wait is what the request has left after connecting and the statement, in whole
    seconds rounded down."""
    left = request_ms - DB_CONNECT_TIMEOUT_MS - statement_ms
    return TimeoutChain(DB_CONNECT_TIMEOUT_MS, max(MIN_QUEUE_WAIT_MS, left // 1000 * 1000), statement_ms,
                        request_ms)


def connect_timeout(chain: TimeoutChain) -> Setting:
    return seconds(chain.connect_ms, "libpq's 2 s minimum (connect_timeout): reaching PgBouncer takes "
                                     "milliseconds; waiting for a server comes after, in its queue", "policy")


def queue_wait_timeout(chain: TimeoutChain) -> Setting:
    return seconds(chain.queue_wait_ms, f"what the {format_ms(chain.request_ms)} request has left after a "
                                        f"{format_ms(chain.connect_ms)} connect and the "
                                        f"{format_ms(chain.statement_ms)} statement_timeout (the web timeout chain)",
                   rule="what the request timeout leaves after the DB connect and statement_timeout, in whole "
                        "seconds (the web timeout chain)")


def chain_budget(chain: TimeoutChain, lb_ms: int) -> list[Budget]:
    f = format_ms
    return [
        Budget("web timeout chain: connect + queue wait + statement ≤ request timeout", chain.database_ms,
               chain.request_ms,
               f"DB connect {f(chain.connect_ms)} + PgBouncer query_wait_timeout {f(chain.queue_wait_ms)} + "
               f"statement_timeout {f(chain.statement_ms)} = {f(chain.database_ms)} "
               f"{within(chain.database_ms, chain.request_ms)} request timeout "
               f"{f(chain.request_ms)}",
               "lower postgres.statement_timeout, or raise app.request_timeout", "ms"),
        Budget("web timeout chain: request timeout ≤ load balancer timeout", chain.request_ms, lb_ms,
               f"request timeout {f(chain.request_ms)} {within(chain.request_ms, lb_ms)} HAProxy timeout server "
               f"{f(lb_ms)}",
               "the load balancer's timeout follows app.request_timeout; remove what overrides it", "ms"),
    ]
