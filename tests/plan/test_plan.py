"""The whole plan: every stage composed, every value with a reason and a source."""
import ast
import inspect

import pytest

from tunestack import plan as plan_package
from tunestack import stackfile
from tunestack.plan import build_plan
from tunestack.plan.setting import SOURCES

from .helpers import spec


@pytest.mark.parametrize("name", stackfile.stack_names())
def test_every_value_has_a_reason_and_a_source(name):
    plan = build_plan(spec(name))
    for section, settings in plan.sections().items():
        for key, s in settings.items():
            assert s.reason.strip(), f"{name}: {section}.{key} has no reason"
            assert s.source in SOURCES


def test_sources_tell_stack_file_from_default():
    plan = build_plan(spec("dev"))   # dev sets no ports: PostgreSQL's and PgBouncer's are defaults
    assert plan.postgres["port"].source == "default" and plan.postgres["port"].value == 5432
    assert plan.pgbouncer["pool_mode"].source == "stack file"
    assert plan.app["threads"].source == "stack file"
    assert build_plan(spec("local")).postgres["port"].source == "stack file"


def test_build_plan_only_runs_the_stages():
    source = inspect.getsource(plan_package.build_plan)
    assert len(source.splitlines()) < 80
    body = ast.parse(source).body[0]
    assert not any(isinstance(n, (ast.For, ast.While)) for n in ast.walk(body)), "arithmetic belongs in a stage"
