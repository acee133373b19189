"""Patroni's failover timings from a recovery time objective. Pure.

Patroni docs, "Dynamic configuration": `ttl` (the leader key's lifetime, minimum 20 s), `loop_wait`
(seconds between HA loops, minimum 1), `retry_timeout` (how long DCS and PostgreSQL trouble is
retried before the leader demotes, minimum 3), under the rule loop_wait + 2 × retry_timeout ≤ ttl.

A lost primary's worst case, from its last leader-key renewal: the key lives `ttl`, longer by an
etcd election when the lost machine also held etcd's leader (ETCD_ELECTION_S: etcd renews every
lease to its full TTL when a new leader takes over), a standby notices within `loop_wait`, promotes
(PROMOTE_S), the load balancer sees the new primary within its health check (CHECK_S) and clients
connect again (RECONNECT_S). What is left of the RTO after the rest is the ttl. The bed's "host
lost" trial measured 30.1 s against an RTO of 30 s before the election and the reconnection were
counted (tests/multihost/test_ha_bed.py).

A crashed primary (its postmaster gone, Patroni alive) is Patroni's other worst case (docs,
`primary_start_timeout`): noticed within `loop_wait`, started again in place for up to
`primary_start_timeout`, then its leader key is released and a standby takes over within
`loop_wait`, a promotion and a check. Patroni's default of 300 s would let that last five minutes
whatever the RTO; what the RTO leaves after the rest is the timeout."""
from __future__ import annotations

from typing import NamedTuple

MIN_TTL_S, MIN_LOOP_WAIT_S, MIN_RETRY_TIMEOUT_S = 20, 1, 3   # Patroni docs, "Dynamic configuration"
# Patroni runs PostgreSQL with its default 100 when the dynamic configuration asks for less
# (Patroni: postgresql/config.py, CMDLINE_OPTIONS' validators).
MIN_MAX_CONNECTIONS = 25
PROMOTE_S = 2       # pg_ctl promote and the leader race: Pigsty's failure model allows 2 s at worst
CHECK_S = 2         # HAProxy: a check each second, one success to go up (plan/ha.py PRIMARY_CHECK)
ETCD_ELECTION_S = 1  # etcd's default --election-timeout (1000 ms); leases restart their TTL at an election
RECONNECT_S = 1     # PgBouncer and the app's pool: a failed attempt's pause and a new connection
LOOP_WAIT_SHARE = 10   # a standby looks every tenth of the RTO: later notice, fewer DCS writes


class Timings(NamedTuple):
    ttl: int
    loop_wait: int
    retry_timeout: int
    primary_start_timeout: int

    @property
    def worst_rto_s(self) -> int:
        return self.ttl + ETCD_ELECTION_S + self.loop_wait + PROMOTE_S + CHECK_S + RECONNECT_S

    @property
    def worst_crash_rto_s(self) -> int:
        """A crashed primary that does not start again (Patroni docs: loop_wait + primary_start_timeout
        + loop_wait), with the promotion and the check."""
        return 2 * self.loop_wait + self.primary_start_timeout + PROMOTE_S + CHECK_S + RECONNECT_S


def loop_wait_for(rto_s: int) -> int:
    return max(MIN_LOOP_WAIT_S, rto_s // LOOP_WAIT_SHARE)


def min_rto_s() -> int:
    """The shortest RTO Patroni's minimum ttl allows (its loop_wait is that RTO's tenth)."""
    rto = MIN_TTL_S
    while rto - loop_wait_for(rto) - PROMOTE_S - CHECK_S - ETCD_ELECTION_S - RECONNECT_S < MIN_TTL_S:
        rto += 1
    return rto


def timings(rto_s: int) -> Timings:
    """The longest ttl the RTO allows (a longer one rides out longer DCS trouble) and, within
    Patroni's rule, the longest retry_timeout: DCS or network trouble shorter than it never demotes
    the leader. ValueError below min_rto_s()."""
    loop_wait = loop_wait_for(rto_s)
    ttl = rto_s - loop_wait - PROMOTE_S - CHECK_S - ETCD_ELECTION_S - RECONNECT_S
    if ttl < MIN_TTL_S:
        raise ValueError(f"an RTO of {rto_s}s leaves a ttl of {ttl}s; Patroni's minimum is {MIN_TTL_S}s")
    retry = (ttl - loop_wait) // 2
    assert retry >= MIN_RETRY_TIMEOUT_S and loop_wait + 2 * retry <= ttl
    start = rto_s - 2 * loop_wait - PROMOTE_S - CHECK_S - RECONNECT_S
    return Timings(ttl, loop_wait, retry, start)
