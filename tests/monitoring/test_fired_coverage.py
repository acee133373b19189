"""Issue #29: "the fired-for-real test covers every rule". Every alert the local stacks render is
produced on real servers by a scenario of test_alerts_fire_for_real.py (the single-node stack) or
test_ha_alerts_fire_for_real.py (local-ha's standbys, etcd and Sentinels), or is named below with
why it cannot be; a new rule without either fails here. Its firing and staying quiet is
promtool's part for every rule (test_rules_fire_and_stay_quiet.py)."""
from __future__ import annotations

import pytest
import yaml

from tests.monitoring import test_alerts_fire_for_real as single, test_ha_alerts_fire_for_real as standbys
from tunestack import stackfile
from tunestack.plan import build_plan
from tunestack.render import render_plan

NOT_PRODUCED = {
    "HostMemoryLow": "under 10 % of the host's memory available for 5 minutes: on a shared CI machine that is "
                     "most of its memory taken from everything else running",
    "BackupStale": "no successful backup for longer than the schedule allows: a day and more",
}


def produced(module) -> set[str]:
    return {alert for cls in vars(module).values()
            if isinstance(cls, type) and issubclass(cls, single.Scenario) for alert, _ in cls.alerts}


def rules(stack: str) -> set[str]:
    plan = build_plan(stackfile.load(stackfile.stack_path(stack), name=stack))
    return {r["alert"] for g in yaml.safe_load(render_plan(plan)["alerts.yml"])["groups"] for r in g["rules"]}


@pytest.mark.parametrize("stack, modules", [("local", (single,)), ("local-ha", (single, standbys))])
def test_every_rule_is_fired_for_real_or_says_why_not(stack, modules):
    covered = set().union(*(produced(m) for m in modules))
    assert rules(stack) - covered - set(NOT_PRODUCED) == set()


@pytest.mark.parametrize("module, stack", [(single, "local"), (standbys, "local-ha")])
def test_every_alert_a_scenario_waits_for_is_a_rule_of_its_stack(module, stack):
    assert produced(module) - rules(stack) == set()
