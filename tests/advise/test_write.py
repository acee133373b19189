"""advise --write: a finding's change lands in the stack file with ruamel.yaml's round trip, so the
pull request shows the changed line and nothing else; a change that breaks a budget is refused
before the file is touched."""
import shutil
from types import SimpleNamespace

import pytest

from tunestack.advise.write import write_changes, write_checked
from tunestack.errors import BudgetError, StackError
from tunestack.paths import ROOT


@pytest.fixture
def stack(tmp_path, monkeypatch):
    shutil.copy(ROOT / "stacks" / "Pulumi.local.yaml", tmp_path)
    monkeypatch.setenv("TUNESTACK_STACKS_DIR", str(tmp_path))
    return tmp_path / "Pulumi.local.yaml"


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b), "no line added or removed"
    return [(x, y) for x, y in zip(a, b) if x != y]


def test_one_value_changes_one_line_and_keeps_comments(stack):
    before = stack.read_text()
    write_changes(stack, [(("tunestack:postgres", "slow_query"), "500ms")])
    after = stack.read_text()
    assert changed_lines(before, after) == [("    slow_query: 250ms", "    slow_query: 500ms")]
    assert "# Debian's PostgreSQL" in after


def test_a_missing_mapping_is_made(stack):
    write_changes(stack, [(("tunestack:postgres", "overrides", "work_mem"), "8MB")])
    assert "overrides:\n      work_mem: 8MB" in stack.read_text()


def finding(key, value):
    return SimpleNamespace(key=key, value=value)


def test_write_checked_writes_what_plans(stack):
    assert write_checked("local", [finding(("tunestack:redis", "cache", "memory"), "160MiB")]) == str(stack)
    assert "memory: 160MiB" in stack.read_text()


@pytest.mark.parametrize("key,value,error", [
    (("tunestack:redis", "cache", "memory"), "64GiB", BudgetError),    # more than the host has
    (("tunestack:postgres", "workload"), "webscale", StackError),
])
def test_a_change_that_does_not_plan_leaves_the_file_as_it_was(stack, key, value, error):
    before = stack.read_text()
    with pytest.raises(error):
        write_checked("local", [finding(key, value)])
    assert stack.read_text() == before


def test_a_planted_symlink_is_never_followed_and_the_mode_is_kept(stack, tmp_path):
    """Issue #23: the writer used a fixed `<file>.tmp` name, followed a symlink planted there, and
    left the stack file 0644."""
    import os

    victim = tmp_path / "victim"
    victim.write_text("keep me")
    stack.with_name(stack.name + ".tmp").symlink_to(victim)      # the old writer's fixed name
    stack.chmod(0o600)
    write_changes(stack, [(("tunestack:postgres", "slow_query"), "500ms")])
    assert victim.read_text() == "keep me"
    assert not stack.is_symlink() and os.stat(stack).st_mode & 0o777 == 0o600
    assert "slow_query: 500ms" in stack.read_text()
    assert sorted(p.name for p in stack.parent.iterdir() if p.name.startswith(".")) == []

