"""The review's comparison, pure: two snapshots of a stack in, what changed out. Plain plans as
`tunestack plan --format json` writes them, without git or a subprocess."""
import pytest

from tunestack.review import SECRET_MASK, StackSnapshot, change_amount, compare_stack, mask_known
from tunestack.review.compare import near_limit


def setting(text, value=None, reason="because", unit=None):
    out = {"text": text, "value": text if value is None else value, "reason": reason}
    return out | ({"unit": unit} if unit else {})


def snap(settings=None, budgets=(), warnings=(), secrets=None, files=None, error=None):
    plan = None if error else {"settings": settings or {}, "budgets": list(budgets), "warnings": list(warnings)}
    return StackSnapshot(plan=plan, error=error, secrets=secrets or {}, files=files or {})


def budget(name, used, headroom, ok=True, unit=""):
    return {"name": name, "used": used, "headroom": headroom, "ok": ok, "unit": unit, "arithmetic": f"{used} used",
            "fix": "give it more"}


def test_nothing_changed():
    s = {"postgresql.conf": {"work_mem": setting("64MB", 65536)}}
    r = compare_stack("prod", snap(s), snap(s))
    assert (r.status, r.changes, r.errors, r.diff) == ("unchanged", [], [], "")


def test_a_changed_value_with_its_amount_and_both_reasons():
    r = compare_stack("prod", snap({"postgresql.conf": {"shared_buffers": setting("8GB", 8 * 2**30, "old why")}}),
                      snap({"postgresql.conf": {"shared_buffers": setting("16GB", 16 * 2**30, "new why")}}))
    (c,) = r.changes
    assert (r.status, c.kind, c.old_text, c.new_text, c.amount, c.old_reason, c.new_reason) == \
        ("changed", "changed", "8GB", "16GB", "+100%", "old why", "new why")


def test_added_removed_and_renamed():
    base = {"app": {"WEB_CONCURRENCY": setting("4", 4), "OLD": setting("x"), "GONE": setting("1", 1)}}
    head = {"app": {"WEB_CONCURRENCY": setting("4", 4), "NEW": setting("x"), "ADDED": setting("2", 2)}}
    kinds = {(c.kind, c.name, c.renamed_from) for c in compare_stack("s", snap(base), snap(head)).changes}
    assert kinds == {("renamed", "NEW", "OLD"), ("added", "ADDED", ""), ("removed", "GONE", "")}


def test_a_new_stack_has_no_renames():
    r = compare_stack("s", None, snap({"app": {"A": setting("1", 1)}}))
    assert r.status == "new" and [c.kind for c in r.changes] == ["added"]


def test_a_removed_stack():
    assert compare_stack("s", snap(), None).status == "removed"


def test_a_broken_head_blocks():
    r = compare_stack("s", snap(), snap(error="invalid stack file: …"))
    assert r.status == "broken" and r.failing and r.errors == ["invalid stack file: …"]


def test_a_broken_budget_blocks_with_its_arithmetic_and_fix():
    r = compare_stack("s", snap(budgets=[budget("memory on db", 10, 5)]),
                      snap(budgets=[budget("memory on db", 20, -5, ok=False)]))
    assert r.failing and r.errors == ["budget broken: memory on db: 20 used; fix: give it more"]
    assert r.budgets[0] | {} == {"name": "memory on db", "unit": "", "before": 5, "after": -5, "ok": False,
                                 "used_before": 10, "used_after": 20}


def test_secrets_are_named_never_shown():
    r = compare_stack("s", snap(secrets={"tunestack:dbPassword": "AAAA-old"}, files={"web.env": "A=AAAA-old\n"}),
                      snap(secrets={"tunestack:dbPassword": "BBBB-new", "tunestack:redisPassword": "CCCC"},
                           files={"web.env": "A=BBBB-new\n"}))
    assert r.secrets == [f"tunestack:dbPassword changed (value {SECRET_MASK})",
                         f"tunestack:redisPassword added (value {SECRET_MASK})"]
    assert "AAAA-old" not in r.diff and "BBBB-new" not in r.diff and SECRET_MASK in r.diff


def test_only_new_warnings_are_shown():
    r = compare_stack("s", snap(warnings=["old"]), snap(warnings=["old", "new"]))
    assert r.new_warnings == ["new"] and r.status == "changed"


def test_rendered_files_diff_names_both_sides():
    r = compare_stack("prod", snap(files={"pgbouncer.ini": "a = 1\n"}), snap(files={"pgbouncer.ini": "a = 2\n"}))
    assert "--- base/prod/pgbouncer.ini" in r.diff and "+a = 2" in r.diff


@pytest.mark.parametrize("old,new,amount", [(100, 150, "+50%"), (100, 50, "-50%"), (0, 5, "from 0"), (0, 0, ""),
                                            ("on", "off", ""), (True, False, "")])
def test_change_amount(old, new, amount):
    assert change_amount(old, new) == amount


def test_an_old_base_without_typed_values_compares_its_text():
    # Plans from before settings carried `text` had PostgreSQL-style text as the value.
    assert change_amount("1GB", 2 * 2**20, old_typed=False) == "+100%"


@pytest.mark.parametrize("used,headroom,near", [(95, 5, True), (90, 10, False), (50, 50, False), ("x", 1, False)])
def test_near_limit_is_under_a_tenth_of_the_limit_left(used, headroom, near):
    assert near_limit({"used_after": used, "after": headroom}) == near


def test_mask_known_masks_long_values_only():
    assert mask_known("pw=s3cr3t and a", ["s3cr3t", "a"]) == f"pw={SECRET_MASK} and a"


def typed(text, value, reason="why"):
    return {"text": text, "value": value, "reason": reason}


def test_what_restarts_what():
    """Issue #24: the review must say which changes restart PostgreSQL (pg_settings.context
    postmaster), PgBouncer (settings it reads at start), touch the host, or roll the app."""
    base = {"postgresql.conf": {"shared_buffers": typed("8GB", 8 << 30), "work_mem": typed("4MB", 4 << 20)},
            "pgbouncer.ini": {"listen_port": typed("6432", 6432), "default_pool_size": typed("16", 16)},
            "web env": {"DB_POOL": typed("5", 5)}, "host kernel db": {"vm.nr_hugepages": typed("100", 100)}}
    head = {"postgresql.conf": {"shared_buffers": typed("16GB", 16 << 30), "work_mem": typed("8MB", 8 << 20)},
            "pgbouncer.ini": {"listen_port": typed("6433", 6433), "default_pool_size": typed("20", 20)},
            "web env": {"DB_POOL": typed("6", 6)}, "host kernel db": {"vm.nr_hugepages": typed("200", 200)}}
    r = compare_stack("prod", snap(base), snap(head))
    assert r.restarts == ["PostgreSQL restart: shared_buffers", "PgBouncer restart: listen_port",
                          "rolling app restart: web env: DB_POOL",
                          "host change (kernel or limits, applied by the operator): host kernel db: vm.nr_hugepages"]


def test_a_sharp_decrease_is_flagged():
    from tunestack.review import to_markdown

    r = compare_stack("prod", snap({"postgresql.conf": {"max_wal_size": typed("24GB", 24 << 30)}}),
                      snap({"postgresql.conf": {"max_wal_size": typed("12GB", 12 << 30)}}))
    md = to_markdown({"base": "main", "head": "working tree"}, [r], limit=None)
    assert "-50% ⚠ decrease" in md


def test_the_stack_files_shape_comes_first():
    base = StackSnapshot(plan={"settings": {}}, config={"tunestack:hosts": [{"name": "db", "instance_type": "r6i.4xlarge"}],
                                                       "tunestack:postgres": {"workload": "web"}})
    head = StackSnapshot(plan={"settings": {}}, config={"tunestack:hosts": [{"name": "db", "instance_type": "r6i.8xlarge"},
                                                                           {"name": "app", "count": 2}],
                                                       "tunestack:postgres": {"workload": "oltp"}})
    r = compare_stack("prod", base, head)
    assert r.shape == ["host app added", "host db: instance_type r6i.4xlarge → r6i.8xlarge", "postgres.workload: web → oltp"]
    from tunestack.review import to_markdown

    md = to_markdown({"base": "main", "head": "working tree"}, [r])
    assert md.index("**Stack files:**") < md.index("<details")


def test_near_the_limit_only_when_the_budget_moved_toward_it():
    from tunestack.review.markdown import moved_closer

    assert moved_closer({"before": 10, "after": 5}) and moved_closer({"before": None, "after": 5})
    assert not moved_closer({"before": 5, "after": 5}) and not moved_closer({"before": 3, "after": 5})


@pytest.mark.parametrize("before,after,says", [
    (15, 16, "is a major upgrade"),
    (16, 15, "is a downgrade"),
])
def test_a_major_change_on_an_existing_stack_blocks_with_the_procedure(before, after, says):
    """Issue #25: a changed postgres.version took the database down and left it down (the new
    server refuses the old data directory; PostgreSQL docs, pg_upgrade). The review blocks it."""
    base = StackSnapshot(plan={"settings": {}}, config={"tunestack:postgres": {"version": before}})
    head = StackSnapshot(plan={"settings": {}}, config={"tunestack:postgres": {"version": after}})
    review = compare_stack("prod", base, head)
    assert review.failing and says in review.errors[0]
    assert ("pg_upgrade" in review.errors[0]) == (after > before)


def test_a_new_stack_or_the_same_major_is_no_upgrade():
    config = {"tunestack:postgres": {"version": 16}}
    assert not compare_stack("prod", None, StackSnapshot(plan={"settings": {}}, config=config)).failing
    assert not compare_stack("prod", StackSnapshot(plan={"settings": {}}, config=config),
                             StackSnapshot(plan={"settings": {}}, config=config)).failing
