"""Patroni's timings from an RTO (tunestack/postgres/patroni.py). Patroni docs, "Dynamic
configuration": ttl ≥ 20, loop_wait ≥ 1, retry_timeout ≥ 3, and loop_wait + 2 × retry_timeout ≤ ttl.
The ttl is what the RTO leaves after loop_wait, a 2 s promotion, a 2 s health check, etcd's 1 s
election (etcd renews leases at an election) and a 1 s reconnection."""
import pytest

from tunestack.postgres.patroni import min_rto_s, timings

TABLE = [
    # rto s, ttl, loop_wait, retry_timeout, primary_start_timeout
    (28, 20, 2, 9, 19),      # the shortest: Patroni's minimum ttl
    (30, 21, 3, 9, 19),      # the default (Pigsty's pg_rto 30)
    (60, 48, 6, 21, 43),
    (120, 102, 12, 45, 91),
]


@pytest.mark.parametrize("rto,ttl,loop_wait,retry,start", TABLE)
def test_timings_keep_patronis_rule_and_the_rto(rto, ttl, loop_wait, retry, start):
    t = timings(rto)
    assert (t.ttl, t.loop_wait, t.retry_timeout, t.primary_start_timeout) == (ttl, loop_wait, retry, start)
    assert t.loop_wait + 2 * t.retry_timeout <= t.ttl and t.ttl >= 20 and t.retry_timeout >= 3
    assert t.worst_rto_s <= rto


def test_below_the_minimum_ttl_there_is_no_plan():
    assert min_rto_s() == 28
    with pytest.raises(ValueError, match="minimum is 20s"):
        timings(27)


@pytest.mark.parametrize("rto", range(28, 601, 7))
def test_every_allowed_rto_plans(rto):
    t = timings(rto)
    assert t.loop_wait + 2 * t.retry_timeout <= t.ttl <= rto
    # Patroni docs, primary_start_timeout: a crashed primary's worst case is loop_wait +
    # primary_start_timeout + loop_wait (then the promotion and the check): within the RTO too
    assert 0 < t.primary_start_timeout and t.worst_crash_rto_s <= rto
