"""`cpus` as the Docker provider reads it back (tunestack/dockercpus.py). The expected texts are the
provider's: its own table (terraform-provider-docker, internal/provider/helpers_test.go,
TestNanoInt64ToDecimalString) and values read from nanoInt64ToDecimalString run under Go 1.19 here
(30 CPUs read back "30.", issue #25)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from tunestack.dockercpus import docker_cpus, parse_cpus, provider_cpus_text
from tunestack.plan import plan_stack


@pytest.mark.parametrize("nanocpus,text", [
    (0, "0"), (1_000_000_000, "1.0"), (1_500_000_000, "1.5"), (2_000_000_000, "2.0"),
    (2_250_000_000, "2.25"),                                   # the provider's own test table
    (30_000_000_000, "30."), (10_000_000_000, "10."), (100_000_000_000, "100."),
    (250_000_000, "0.25"), (1_050_000_000, "1.05"), (333_333_333, "0.333333333"),
    (50_000_000, "0.1"),                                      # read under Go: rounded to one decimal
])
def test_the_providers_reading_of_cpus(nanocpus, text):
    assert provider_cpus_text(nanocpus) == text


@given(st.integers(min_value=1, max_value=256 * 100).map(lambda hundredths: hundredths / 100))
def test_what_is_sent_is_what_is_read_back_or_refused(cpus):
    """Issue #25: `repr(30.0)` = "30.0" came back "30." and replaced the container on every `up`."""
    nanocpus = round(cpus * 1e9)
    try:
        text = docker_cpus(cpus)
    except ValueError:   # refused only where the provider would read back another limit
        assert parse_cpus(provider_cpus_text(nanocpus)) != nanocpus
        return
    assert parse_cpus(text) == nanocpus and provider_cpus_text(parse_cpus(text)) == text


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_planned_container_limit_is_sent_as_read_back(stack):
    plan = plan_stack(stack, target="docker")
    for limit in (c for limits in plan.containers.values() for c in limits):
        text = docker_cpus(limit.cpus)
        assert provider_cpus_text(parse_cpus(text)) == text
