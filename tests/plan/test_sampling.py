"""Sentry sample rates (runtime-rules §5.2: rate = min(1, B / (R × 2,592,000 × S)))."""
import pytest

from tunestack.plan.sampling import floor_sig, plan_sampling
from tunestack.stackfile.spec import SamplingRule, TrafficSpec


def test_reference_example():
    # runtime-rules §5.2: R = 200 rps, S = 12, B = 50 × 10⁶ spans → about 0.008.
    s = plan_sampling(TrafficSpec(200, 50_000_000, "spans", 12))
    assert s.traces_rate == pytest.approx(0.00803, abs=1e-5)
    assert s.monthly_units <= 50_000_000


def test_budget_larger_than_traffic_caps_at_one():
    assert plan_sampling(TrafficSpec(1, 10**9)).traces_rate == 1.0


def test_health_checks_at_zero_and_rules_come_out_of_the_budget():
    t = TrafficSpec(100, 100_000_000, sampling_rules=(SamplingRule("/checkout", 1.0, 0.1),))
    s = plan_sampling(t)
    assert {r["path"]: r["rate"] for r in s.rules}["/health"] == 0.0
    monthly = 100 * 2_592_000
    expected = (100_000_000 - 0.1 * monthly) / (0.9 * monthly)
    assert s.traces_rate == pytest.approx(expected, rel=1e-2) and s.traces_rate <= expected
    assert s.monthly_units <= 100_000_000


def test_profiles_are_relative_to_traces():
    # Sentry docs: profiles_sample_rate is relative to traces_sample_rate.
    s = plan_sampling(TrafficSpec(100, 25_920_000, profiles_per_month=2_592_000))
    assert s.traces_rate == pytest.approx(0.1)
    assert s.profiles_rate == pytest.approx(0.1)


def test_rounding_never_overspends():
    assert floor_sig(0.0080377) == 0.00803
    assert floor_sig(0.99999) == 0.999
