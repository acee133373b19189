"""Replica split and load-balancer weights (Argo Rollouts basic canary: nearest whole replica count,
ties rounded up; argo-rollouts #40: 10% granularity needs at least 10 replicas)."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunestack.plan.rollout import fixed_split, reachable_weights, rollout_canary_replicas, split


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


@pytest.mark.parametrize("total,canary,weight,expected_share", [
    (10, 5, 10, 10.0), (10, 5, 25, 25.0), (2, 1, 50, 50.0), (4, 1, 90, 90.0), (3, 2, 33, 33.0)])
def test_fixed_split_gives_the_canary_its_share_by_weights_alone(total, canary, weight, expected_share):
    """A Docker rollout's canary replicas exist from the start; each step is HAProxy weights only."""
    sp = fixed_split(total, canary, weight)
    assert (sp.stable, sp.canary) == (total - canary, canary)
    assert sp.lb_weight == pytest.approx(expected_share, abs=0.5)
    assert 0 <= sp.canary_server_weight <= 256 and 0 <= sp.stable_server_weight <= 256


@pytest.mark.parametrize("weight,canary_each", [(0, 0), (100, 1)])
def test_fixed_split_ends(weight, canary_each):
    sp = fixed_split(10, 5, weight)
    assert sp.canary_server_weight == canary_each and sp.stable_server_weight == 1 - canary_each


@pytest.mark.parametrize("total,steps,replicas", [
    (10, (10, 25, 50, 100), 5),   # the largest step below 100 decides (Argo's nearest whole count)
    (2, (50, 100), 1),
    (3, (10, 100), 1),            # at least one
    (4, (100,), 4),
])
def test_rollout_canary_replicas(total, steps, replicas):
    assert rollout_canary_replicas(total, steps) == replicas
