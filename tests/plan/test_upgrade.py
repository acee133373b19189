"""A change of PostgreSQL major (tunestack/plan/upgrade.py). PostgreSQL docs, pg_upgrade: a server
opens only a data directory of its own major, and no tool converts one back down."""
import pytest

from tunestack.plan.upgrade import major_change


@pytest.mark.parametrize("before,after,says", [
    (None, 16, None),          # a new stack: nothing to upgrade
    (16, 16, None),
    (15, 16, "is a major upgrade"),
    (15, 17, "is a major upgrade"),
    (17, 16, "is a downgrade"),
])
def test_major_change(before, after, says):
    found = major_change("prod", before, after)
    assert (found is None) if says is None else (says in found and f"{before} → {after}" in found)


def test_an_upgrade_names_the_procedure_and_a_downgrade_the_way_out():
    assert "pg_upgrade" in major_change("prod", 15, 16)
    assert "restore a dump" in major_change("prod", 16, 15)
