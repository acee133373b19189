"""Sentry sample rates (runtime-rules §5.2: rate = min(1, B / (R × 2,592,000 × S)))."""
import pytest

from tunestack.plan.sampling import floor_sig, plan_sampling
from tunestack.stackfile.spec import SamplingRule, TrafficSpec


def test_reference_example():
    # runtime-rules §5.2: R = 200 rps, S = 12, B = 50 × 10⁶ spans → about 0.008.
    s = plan_sampling(TrafficSpec(200, 50_000_000, "spans", 12, peak_jobs_per_second=0))
    assert s.traces_rate == pytest.approx(0.00803, abs=1e-5)
    assert s.monthly_units <= 50_000_000


def test_budget_larger_than_traffic_caps_at_one():
    assert plan_sampling(TrafficSpec(1, 10**9)).traces_rate == 1.0


def test_health_checks_at_zero_and_rules_come_out_of_the_budget():
    t = TrafficSpec(100, 100_000_000, sampling_rules=(SamplingRule("/checkout", 1.0, 0.1),), peak_jobs_per_second=0)
    s = plan_sampling(t)
    assert {r["path"]: r["rate"] for r in s.rules}["/health"] == 0.0
    monthly = 100 * 2_592_000
    expected = (100_000_000 - 0.1 * monthly) / (0.9 * monthly)
    assert s.traces_rate == pytest.approx(expected, rel=1e-2) and s.traces_rate <= expected
    assert s.monthly_units <= 100_000_000


def test_profiles_are_relative_to_traces():
    # Sentry docs: profiles_sample_rate is relative to traces_sample_rate.
    s = plan_sampling(TrafficSpec(100, 25_920_000, profiles_per_month=2_592_000, peak_jobs_per_second=0))
    assert s.traces_rate == pytest.approx(0.1)
    assert s.profiles_rate == pytest.approx(0.1)


def test_profiles_count_the_transactions_per_path_rules_sample():
    # 10% of requests sampled at 1.0 by a rule, 25,920,000 a month: a profile budget of 2,592,000
    # is a share of them as well as of the base-rate ones.
    t = TrafficSpec(100, 25_920_000 * 2, profiles_per_month=2_592_000, peak_jobs_per_second=0,
                    sampling_rules=(SamplingRule("/checkout", 1.0, 0.1),))
    s = plan_sampling(t)
    assert s.monthly_transactions * s.profiles_rate <= 2_592_000
    assert s.monthly_transactions > 0.1 * 100 * 2_592_000


def test_rounding_never_overspends():
    assert floor_sig(0.0080377) == 0.00803
    assert floor_sig(0.99999) == 0.999


MONTH = 30 * 24 * 3600


@pytest.mark.parametrize("stack", ["local", "dev", "staging", "prod", "local-rails"])
def test_expected_monthly_volume_fits_the_budgets(stack):
    """Summed from the rendered env, request by request class: per-path rules at their rates, every
    other web request and every job at the base rate, health checks at 0. Profiles are a share of
    every sampled transaction (Sentry docs: profiles_sample_rate is relative to the trace decision),
    the rule-sampled ones included: the issue found staging's profiles 8× over budget without them."""
    from tunestack.plan import build_plan
    from .helpers import spec

    plan = build_plan(spec(stack))
    t = plan.spec.traffic
    env = plan.web_env
    base = env["SENTRY_TRACES_SAMPLE_RATE"].value
    assert plan.jobs_env["SENTRY_TRACES_SAMPLE_RATE"].value == base
    rules = dict(r.split("=") for r in env["SENTRY_TRACES_SAMPLER_RULES"].value)
    shares = {r.path: r.share for r in t.sampling_rules if r.share is not None}
    # A rule with no share cannot be counted; the plan says so instead.
    assert all(any(r.path in w for w in plan.warnings) for r in t.sampling_rules if r.share is None)
    spans = t.spans_per_transaction if t.tracing_unit == "spans" else 1
    jobs = t.peak_jobs_per_second if t.peak_jobs_per_second is not None else t.peak_rps
    transactions = sum(shares[p] * t.peak_rps * MONTH * float(rate) for p, rate in rules.items() if p in shares)
    transactions += (1 - sum(shares.values())) * t.peak_rps * MONTH * base + jobs * MONTH * base
    assert transactions * spans <= t.tracing_per_month
    assert transactions * env["SENTRY_PROFILES_SAMPLE_RATE"].value <= max(t.profiles_per_month, 0) or \
        env["SENTRY_PROFILES_SAMPLE_RATE"].value == 0


def test_jobs_are_transactions_too():
    # One job per request doubles the volume at rate 1: the base rate halves.
    web_only = plan_sampling(TrafficSpec(100, 25_920_000, peak_jobs_per_second=0))
    with_jobs = plan_sampling(TrafficSpec(100, 25_920_000))
    assert web_only.traces_rate == pytest.approx(0.1) and with_jobs.traces_rate == pytest.approx(0.05)
