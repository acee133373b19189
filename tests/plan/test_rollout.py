"""Replica split and load-balancer weights (Argo Rollouts basic canary: nearest whole replica count,
ties rounded up; argo-rollouts #40: 10% granularity needs at least 10 replicas)."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunestack.plan.rollout import reachable_weights, split


@pytest.mark.parametrize("total,weight,stable,canary", [
    (10, 10, 9, 1), (10, 25, 7, 3),   # 2.5 → ties round up to 3 (Argo docs, "41% of 10 gives 4")
    (10, 41, 6, 4), (10, 50, 5, 5), (10, 100, 0, 10), (10, 0, 10, 0),
    (3, 10, 2, 1),                     # at least one canary above 0%
    (2, 50, 1, 1),
])
def test_replicas(total, weight, stable, canary):
    s = split(total, weight)
    assert (s.stable, s.canary) == (stable, canary)


@given(st.integers(2, 200), st.integers(1, 99))
def test_lb_weights_hit_the_requested_share(total, weight):
    s = split(total, weight)
    assert s.stable + s.canary == total and s.canary >= 1
    assert 0 <= s.stable_server_weight <= 256 and 0 <= s.canary_server_weight <= 256
    if s.stable:
        assert abs(s.lb_weight - weight) < 2.0  # exact unless HAProxy's 256 cap forces rounding


def test_reachable_weights_by_replicas_alone():
    assert reachable_weights(2) == [0.0, 50.0, 100.0]
    assert 10.0 in reachable_weights(10) and 10.0 not in reachable_weights(9)
